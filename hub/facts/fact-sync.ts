/**
 * The hub part that turns stored ratings into the hall's records: on every `stored` and
 * `defaulted` event (and on a timer, as a safety net) it catches up on what was committed —
 * facts and 差评 work orders in one transaction per chunk — then checks the windows for 差评
 * clusters and misuse. What it made goes out on the event bus (`facts`), where the hall page's
 * live feed (or anything else) picks it up; this part knows nothing of the web.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Part } from '../../common/lifecycle.js';
import type { HubEvents } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { Alert } from '../stats/alerts.js';
import type { Fact, FactPlace } from '../stats/facts.js';
import type { WorkOrder } from '../workorders/store.js';
import type { HallRecords } from './hall-records.js';

/** What one catch-up chunk made, after its commit. */
export interface FactBatch {
  added: Fact[];
  /** 差评 work orders opened for the added facts. */
  orders: WorkOrder[];
  /** 差评 cluster alerts raised. */
  clusters: Alert[];
  /** Misuse alerts raised (looked for among the recent facts only). */
  misuse: Alert[];
  /** Facts received and orders created before this are backfilled history, not news. */
  recentSince: number;
}

export interface FactSyncDeps {
  records: HallRecords;
  events: EventEmitter<HubEvents>;
  log: Logger;
  metrics: Metrics;
  /** How often the safety-net catch-up runs (default 30 s). */
  intervalMs?: number;
  /**
   * The catch-up waits until ingest has stored nothing for this long (default 100 ms)…
   */
  quietMs?: number;
  /**
   * …or until the oldest record not caught up on has waited this long (default 2 s) and ingest
   * has nothing waiting to be committed at that moment…
   */
  maxLagMs?: number;
  /**
   * …or, however busy ingest is, until the oldest record not caught up on has waited this long
   * (default 60 s). While devices pour records in faster than the hub stores them (a hall's
   * backlog after an outage, a burst), storing and acknowledging goes first: the catch-up does
   * not run, and a running catch-up stops between chunks, as long as records wait for ingest;
   * the hall page then runs up to this far behind. Catching up after every commit cost a fifth
   * of the hub's time in a 1,000-device burst, and with the 2 s bound alone a quarter of the
   * hub's time in a long backlog. maxLagMs and hardLagMs are measured on the hub's clock
   * (HallRecords.now, which records' received_at is written with), quietMs on the wall clock.
   */
  hardLagMs?: number;
  /** Records that arrived at ingest and are not yet committed (Ingest.waiting); none if absent. */
  ingestWaiting?: () => number;
}

/** Facts per catch-up transaction while the hub is live: small enough that ingest gets its turn between chunks. */
const LIVE_CHUNK = 500;

export class FactSync implements Part {
  readonly name = 'fact-sync';
  private readonly log: Logger;
  private readonly alertCounter: Counter<'window'>;
  private readonly misuseCounter: Counter<'kind'>;
  private syncing = false;
  private scheduled: NodeJS.Timeout | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  /** When ingest last stored something (Date.now, for quiet). */
  private lastStored = 0;
  /**
   * Since when (the hub's clock, as the records' received_at) the oldest record not caught up
   * on has waited; after a chunk, when the last record it took in was received.
   */
  private waitingSince: number | null = null;
  private readonly stored = () => {
    this.lastStored = Date.now();
    this.waitingSince ??= this.d.records.now();
    this.schedule();
  };
  private readonly schedule = () => {
    if (this.scheduled || this.stopped) return;
    const wait = this.wait();
    // Off ingest's call stack either way.
    this.scheduled = setTimeout(() => {
      this.scheduled = null;
      if (this.wait() === 0) this.sync();
      else this.schedule();
    }, wait);
  };

  /** How long the catch-up should wait before it looks again (0: it may run now). */
  private wait(): number {
    const quiet = this.d.quietMs ?? 100;
    const idle = Date.now() - this.lastStored;
    // Records waiting for ingest come first. Not "quiet" while any wait: a chunk of the catch-up
    // itself can take longer than quietMs on a slow machine, and no record is stored meanwhile.
    const busy = (this.d.ingestWaiting?.() ?? 0) > 0;
    if (idle >= quiet && !busy) return 0;
    const waited = this.waitingSince === null ? Infinity : this.d.records.now() - this.waitingSince;
    if (waited >= (this.d.hardLagMs ?? 60_000)) return 0;
    const lag = this.d.maxLagMs ?? 2_000;
    if (waited >= lag && !busy) return 0;
    // Ingest has records waiting: look again soon, it may have caught up.
    if (busy) return 20;
    return Math.max(1, Math.min(quiet - idle, lag - waited));
  }

  constructor(private readonly d: FactSyncDeps) {
    this.log = d.log.child({ part: 'fact-sync' });
    this.misuseCounter = new Counter({
      name: 'hcp_misuse_alerts_total',
      help: 'Misuse alerts raised, by kind (sessionless, burst, flagged-high)',
      labelNames: ['kind'] as const,
      registers: [d.metrics.registry],
    });
    const sync = this;
    new Gauge({
      name: 'hcp_hall_page_lag_seconds',
      help: 'How long the oldest stored record has waited for the hall page (facts, 差评 work orders); 0 when caught up',
      registers: [d.metrics.registry],
      collect() {
        this.set(sync.waitingSince === null ? 0 : Math.max(0, sync.d.records.now() - sync.waitingSince) / 1000);
      },
    });
    this.alertCounter = new Counter({
      name: 'hcp_bad_review_alerts_total',
      help: '差评 cluster alerts raised, by window',
      labelNames: ['window'] as const,
      registers: [d.metrics.registry],
    });
  }

  start(): void {
    this.stopped = false;
    this.d.events.on('stored', this.stored);
    this.d.events.on('defaulted', this.schedule);
    // A rating given on the citizen's QR page (hub/citizen/) is a new fact too.
    this.d.events.on('citizen', this.schedule);
    this.sync();
    this.timer = setInterval(() => this.sync(), this.d.intervalMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.d.events.off('stored', this.stored);
    this.d.events.off('defaulted', this.schedule);
    this.d.events.off('citizen', this.schedule);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.scheduled) clearTimeout(this.scheduled);
    this.scheduled = null;
  }

  /**
   * Catches up on stored records a chunk at a time, yielding between chunks so a large
   * backlog (first start after an upgrade) does not stall the hub.
   */
  sync(): void {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    const step = () => {
      if (this.stopped) {
        this.syncing = false;
        return;
      }
      try {
        const { more, lastReceivedAt } = this.chunk();
        // Over hardLagMs it goes on only while what is left is that old: the page holds at that lag.
        if (!more) this.waitingSince = null;
        else if (lastReceivedAt !== null) this.waitingSince = Math.max(this.waitingSince ?? lastReceivedAt, lastReceivedAt);
        else this.waitingSince ??= this.d.records.now();
        if (more || this.again) {
          this.again = false;
          if (this.wait() === 0) {
            setImmediate(step);
            return;
          }
          // Records wait for ingest: the rest of the catch-up comes after them.
          this.syncing = false;
          this.schedule();
          return;
        }
      } catch (e) {
        this.log.error({ err: e }, 'catching up on stored records failed; will retry');
      }
      this.syncing = false;
    };
    step();
  }

  /** Catches up completely, now (tests, the benchmark, the CLI). Returns the facts added. */
  syncNow(): number {
    let total = 0;
    for (;;) {
      const { added, more } = this.chunk(2000);
      total += added;
      if (!more) return total;
    }
  }

  /** One chunk: facts and work orders in one transaction, then the alerts and the `facts` event. */
  private chunk(size = LIVE_CHUNK): { added: number; more: boolean; lastReceivedAt: number | null } {
    const r = this.d.records;
    const orders: WorkOrder[] = [];
    const { added, superseded, more } = r.facts.catchUp(
      (f) => {
        const o = r.workOrders.createFor(f);
        if (o) orders.push(o);
      },
      1,
      size,
    );
    if (added.length || superseded.length) this.afterCommit(added, superseded, orders);
    return { added: added.length, more, lastReceivedAt: added.at(-1)?.receivedAt ?? null };
  }

  private afterCommit(added: Fact[], superseded: FactPlace[], orders: WorkOrder[]): void {
    const r = this.d.records;
    const recentSince = r.now() - 10 * 60_000;
    const bad = added.filter((f) => f.level <= 2 && f.policy !== 'exclude');
    for (const o of orders) this.log.info({ order: o.id, window: o.window, level: o.level, dueAt: o.dueAt }, '差评 work order opened');
    // A default taken out changes its window's share of 差评 as a new 差评 does.
    const clusters = r.alerts.check([...bad, ...superseded]);
    for (const a of clusters) {
      this.alertCounter.inc({ window: a.window });
      this.log.warn({ window: a.window, kind: a.kind, bad: a.bad, total: a.total, minutes: a.minutes }, '差评 cluster at a window');
    }
    const misuse = r.misuse.check(added.filter((f) => f.receivedAt >= recentSince));
    for (const a of misuse) {
      this.misuseCounter.inc({ kind: a.kind });
      this.log.warn({ window: a.window, kind: a.kind, detail: a.detail }, 'misuse alert at a window');
    }
    this.d.events.emit('facts', { added, orders, clusters, misuse, recentSince });
  }
}
