/**
 * The hall web page's composition root: staff accounts and sessions, the facts behind the
 * statistics, 差评 work orders, cluster alerts and the live feed, wired to the hub's event
 * bus. Stored records are the only input: on every `stored` and `defaulted` event (and on a
 * timer, as a safety net) it catches up on what was committed, in its own transactions.
 */
import type { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { DeviceConfig } from '../../protocol/index.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { dayNumber, WorkingDayCalendar } from '../calendar/working-days.js';
import type { HubEvents } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { DeviceRow, Registry } from '../registry/registry.js';
import { ClusterWatch, type Alert } from '../stats/alerts.js';
import { Facts, type Fact } from '../stats/facts.js';
import { MisuseWatch } from '../stats/misuse-alerts.js';
import { StatsQueries } from '../stats/queries.js';
import type { DeviceStatusStore } from '../status/device-status.js';
import type { Db } from '../store/db.js';
import { AuditLog } from '../users/audit.js';
import { Sessions } from '../users/sessions.js';
import { Users } from '../users/users.js';
import type { Policy } from '../workorders/machine.js';
import { loadPolicy, type PolicyProfile } from '../workorders/policy.js';
import { queueOutbound } from '../workorders/outbound.js';
import { WorkOrders, type WorkOrder } from '../workorders/store.js';
import { WebConfigSchema, type WebConfig, type WebConfigInput } from './config.js';
import { LiveFeed } from './live.js';
import { deviceUpdateOf } from '../releases/releases.js';

export const INITIAL_PASSWORD_FILE = 'web-admin.password';

export interface HallWebDeps {
  db: Db;
  registry: Registry;
  status: DeviceStatusStore;
  events: EventEmitter<HubEvents>;
  log: Logger;
  metrics: Metrics;
  config?: WebConfigInput;
  /** The hub's one working-day calendar (the 差评 deadlines); default: the official one. */
  calendar?: WorkingDayCalendar;
  /** Where the first admin's password is left (the hub's data directory). */
  dataDir: string;
  now?: () => number;
  /** This hall's id (milestones sent to the province name it). */
  hall?: string;
  /** The hand-off destination's name (e.g. 12345), when one is configured: enables 转办. */
  handoffTarget?: string | null;
}

export interface Tile {
  id: string;
  window: string;
  windowName: string | null;
  name: string | null;
  state: 'online' | 'offline' | 'paused' | 'never' | 'revoked';
  online: boolean;
  paused: boolean;
  mode: string | null;
  staff: { id: string; name: string; number: string | null } | null;
  backlog: number | null;
  oldestAgeS: number | null;
  faults: string[];
  clockSynced: boolean | null;
  firmware: string | null;
  /** The device's last fleet update (version, state, reason), null if none. */
  update: { version: string; state: string; reason?: string } | null;
  statusAt: number | null;
  lastRating: { level: number; at: number } | null;
  /** misuse: presses kept but not counted under the hall's flag policy. */
  today: { total: number; bad: number; misuse?: number };
}

export interface WallSummary {
  devices: number;
  online: number;
  offline: number;
  paused: number;
  today: { total: number; bad: number; satisfaction: number | null };
  orders: { open: number; overdue: number };
  alerts: number;
}

export class HallWeb {
  readonly config: WebConfig;
  readonly audit: AuditLog;
  readonly users: Users;
  readonly sessions: Sessions;
  readonly facts: Facts;
  readonly stats: StatsQueries;
  readonly workOrders: WorkOrders;
  readonly alerts: ClusterWatch;
  readonly misuse: MisuseWatch;
  readonly live = new LiveFeed();
  readonly profile: PolicyProfile;
  readonly calendar: WorkingDayCalendar;
  readonly now: () => number;
  /** The hand-off destination's name, or null when none is configured. */
  readonly handoffTarget: string | null;
  private readonly log: Logger;
  private readonly alertCounter: Counter<'window'>;
  private readonly misuseCounter: Counter<'kind'>;
  private syncing = false;
  private scheduled = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(readonly d: HallWebDeps) {
    this.config = WebConfigSchema.parse(d.config ?? {});
    this.now = d.now ?? Date.now;
    this.log = d.log.child({ part: 'web' });
    this.profile = loadPolicy(this.config.policy);
    this.calendar = d.calendar ?? new WorkingDayCalendar();
    const policy: Policy = {
      profile: this.profile,
      calendar: this.calendar,
      handoff: d.handoffTarget ? { target: d.handoffTarget } : null,
    };
    this.handoffTarget = d.handoffTarget ?? null;
    this.audit = new AuditLog(d.db, this.now);
    this.users = new Users(d.db, this.audit, this.now);
    this.sessions = new Sessions(
      d.db,
      this.users,
      { idleMs: this.config.sessionIdleMinutes * 60_000, maxMs: this.config.sessionMaxHours * 3_600_000 },
      this.now,
    );
    this.facts = new Facts(d.db);
    this.stats = new StatsQueries(d.db);
    // Every step that leaves the hall (milestones, invalidation, hand-off) is queued in the step's transaction.
    const outbound = { db: d.db, hall: d.hall ?? d.registry.hall, handoffTarget: this.handoffTarget };
    this.workOrders = new WorkOrders(
      d.db,
      () => policy,
      this.now,
      (ratingId) => this.facts.exclude(ratingId, 'invalid'),
      (step) =>
        queueOutbound(outbound, step.before, step.after, step.cmd, step.event, step.actor, step.at, () =>
          this.workOrders.trail(step.after.id),
        ),
      () => !!d.registry.hallSettings().reasonRequired,
    );
    this.alerts = new ClusterWatch(d.db, this.stats, this.config.alerts, this.now);
    this.misuse = new MisuseWatch(d.db, this.config.misuseAlerts, this.now);
    this.misuseCounter = new Counter({
      name: 'hcp_misuse_alerts_total',
      help: 'Misuse alerts raised, by kind (sessionless, burst, flagged-high)',
      labelNames: ['kind'] as const,
      registers: [d.metrics.registry],
    });
    this.alertCounter = new Counter({
      name: 'hcp_bad_review_alerts_total',
      help: '差评 cluster alerts raised, by window',
      labelNames: ['window'] as const,
      registers: [d.metrics.registry],
    });

    // Off ingest's call stack: many group commits in a burst become one catch-up.
    d.events.on('stored', () => this.schedule());
    d.events.on('defaulted', () => this.schedule());
    d.events.on('status', (device) => this.pushTile(device));
    // Whether a device is connected is the status store's answer (the broker's current
    // connection, so a taken-over connection's close does not turn the tile grey).
    d.events.on('connected', (id) => this.pushTile(id));
    d.events.on('disconnected', (id) => this.pushTile(id));
    // Staff log-in/out, pause/resume and settings from the window API arrive as new configs.
    d.events.on('config', (c) => this.pushTile(c.device));
  }

  /** Creates the first admin account if there is none; its password goes to a file only root reads. */
  async ensureInitialAdmin(): Promise<string | null> {
    if (this.users.count() > 0) return null;
    const file = join(this.d.dataDir, INITIAL_PASSWORD_FILE);
    const { password } = await this.users.add('system', {
      name: 'admin',
      role: 'admin',
      displayName: '管理员',
      password: process.env.HCP_WEB_ADMIN_PASSWORD || undefined,
    });
    writeFileAtomic(file, `admin\n${password}\n`, 0o600);
    this.log.info({ file }, 'created the first web admin account "admin"; its password is in this file');
    return password;
  }

  start(): void {
    this.sync();
    this.timer = setInterval(() => {
      this.sync();
      this.sessions.prune();
    }, 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    this.live.close();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.sync();
    });
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
      if (this.stopped) return;
      try {
        if (this.syncChunk() || this.again) {
          this.again = false;
          setImmediate(step);
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
    while (this.syncChunk((n) => (total += n)));
    return total;
  }

  /** One chunk: facts and work orders in one transaction, then the live feed and alerts. */
  private syncChunk(count: (n: number) => void = () => {}): boolean {
    const created: WorkOrder[] = [];
    const { added, more } = this.facts.catchUp((f) => {
      const o = this.workOrders.createFor(f);
      if (o) created.push(o);
    }, 1);
    if (added.length) this.afterCommit(added, created);
    count(added.length);
    return more;
  }

  private afterCommit(added: Fact[], created: WorkOrder[]): void {
    const badWindows: string[] = [];
    const recentCutoff = this.now() - 10 * 60_000;
    for (const f of added) {
      if (f.level <= 2 && f.policy !== 'exclude') badWindows.push(f.window);
      // Backfilled history is not news for the live feed.
      if (f.receivedAt >= recentCutoff)
        this.live.send('rating', {
          id: f.id,
          at: f.at,
          window: f.window,
          staffId: f.staffId,
          level: f.level,
          channel: f.channel,
          itemName: f.itemName,
          flags: f.flags?.length ? f.flags.join(',') : null,
          excluded: f.policy === 'exclude' ? 'misuse' : null,
        });
    }
    for (const o of created) {
      this.log.info({ order: o.id, window: o.window, level: o.level, dueAt: o.dueAt }, '差评 work order opened');
      if (o.createdAt >= recentCutoff)
        this.live.send('workorder', { id: o.id, window: o.window, level: o.level, state: o.state, dueAt: o.dueAt });
    }
    for (const a of this.alerts.check(badWindows)) this.raise(a);
    for (const a of this.misuse.check(added.filter((f) => f.receivedAt >= recentCutoff))) {
      this.misuseCounter.inc({ kind: a.kind });
      this.log.warn({ window: a.window, kind: a.kind, detail: a.detail }, 'misuse alert at a window');
      this.live.send('alert', a);
    }
    if (this.live.size > 0) {
      const windows = new Set(added.filter((f) => f.receivedAt >= recentCutoff).map((f) => f.window));
      for (const dev of this.d.registry.list()) if (windows.has(dev.window)) this.pushTile(dev.id);
      this.pushSummary();
    }
  }

  private raise(a: Alert): void {
    this.alertCounter.inc({ window: a.window });
    this.log.warn({ window: a.window, kind: a.kind, bad: a.bad, total: a.total, minutes: a.minutes }, '差评 cluster at a window');
    this.live.send('alert', a);
  }

  private pushTile(device: string): void {
    if (this.live.size === 0) return;
    const row = this.d.registry.get(device);
    if (!row) return;
    this.live.send('tile', this.tile(row.id));
    this.pushSummary();
  }

  private summaryTimer: NodeJS.Timeout | null = null;
  /** The summary reads every tile: send it at most once a second, however busy the hall. */
  pushSummary(): void {
    if (this.live.size === 0 || this.summaryTimer) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      if (!this.stopped) this.live.send('summary', this.summary());
    }, 250);
    this.summaryTimer.unref();
  }

  private readonly configs = new Map<string, { sig: string; config: DeviceConfig | null }>();
  /**
   * A device's config, parsed once per change (the wall and the statistics read all 400 of
   * them on every load; validating each every time would cost more than the queries).
   */
  private configOf(d: DeviceRow): DeviceConfig | null {
    const sig = `${d.window}\u0000${d.config_version}\u0000${d.settings}`;
    const hit = this.configs.get(d.id);
    if (hit?.sig === sig) return hit.config;
    let config: DeviceConfig | null = null;
    try {
      config = this.d.registry.config(d);
    } catch (e) {
      this.log.warn({ device: d.id, err: (e as Error).message }, 'device settings do not make a valid config');
    }
    this.configs.set(d.id, { sig, config });
    return config;
  }

  /** Staff id → name, from the windows' configs (who is or was on duty). */
  staffNames(): Map<string, string> {
    const m = new Map<string, string>();
    for (const d of this.d.registry.list()) {
      const s = this.configOf(d)?.staff;
      if (s) m.set(s.id, s.number ? `${s.name}（${s.number}）` : s.name);
    }
    return m;
  }

  /** Window → "12 不动产登记", from the devices' configs. */
  windowNames(): Map<string, string> {
    const m = new Map<string, string>();
    for (const d of this.d.registry.list()) {
      const name = this.configOf(d)?.windowName;
      if (name) m.set(d.window, `${d.window} ${name}`);
    }
    return m;
  }

  tile(id: string, todayCounts?: Map<string, { total: number; bad: number; misuse: number }>): Tile {
    const d = this.d.registry.get(id)!;
    // The hub's view of the device: connected now (the broker's current connection) and its last status.
    const h = this.d.status.health(id);
    const cfg = this.configOf(d);
    const online = h.online;
    const paused = !!cfg?.paused || h.mode === 'paused';
    const last = this.d.db
      .prepare<[string], { level: number; at: number }>('SELECT level, at FROM rating_facts WHERE window = ? ORDER BY at DESC LIMIT 1')
      .get(d.window);
    const day = dayNumber(this.now());
    const today = todayCounts
      ? (todayCounts.get(d.window) ?? { total: 0, bad: 0, misuse: 0 })
      : (() => {
          const c = this.stats.trend(day, day, 'day', 'window', d.window)[0]?.counts;
          return { total: c?.total ?? 0, bad: c?.bad ?? 0, misuse: c?.misuse ?? 0 };
        })();
    return {
      id,
      window: d.window,
      windowName: cfg?.windowName ?? null,
      name: d.name,
      state:
        d.revoked_at !== null
          ? 'revoked'
          : h.reportedState === null && !online
            ? 'never'
            : !online
              ? 'offline'
              : paused
                ? 'paused'
                : 'online',
      online,
      paused,
      mode: h.mode ?? null,
      staff: cfg?.staff ? { id: cfg.staff.id, name: cfg.staff.name, number: cfg.staff.number } : null,
      backlog: h.backlog?.depth ?? null,
      oldestAgeS: h.backlog?.oldestAgeS ?? null,
      faults: h.faults,
      clockSynced: h.clock?.synced ?? null,
      firmware: h.firmware,
      update: deviceUpdateOf(this.d.db, d.id),
      statusAt: h.statusAt,
      lastRating: last ?? null,
      today,
    };
  }

  private todayByWindow(): Map<string, { total: number; bad: number; misuse: number }> {
    const today = dayNumber(this.now());
    return new Map(
      this.stats.byDim('window', today, today).map((r) => [r.key, { total: r.counts.total, bad: r.counts.bad, misuse: r.counts.misuse }]),
    );
  }

  tiles(): Tile[] {
    const today = this.todayByWindow();
    return this.d.registry.list().map((d) => this.tile(d.id, today));
  }

  summary(tiles = this.tiles()): WallSummary {
    const day = dayNumber(this.now());
    const t = this.stats.summary(day, day);
    return {
      devices: tiles.length,
      online: tiles.filter((x) => x.online).length,
      offline: tiles.filter((x) => !x.online && x.state !== 'revoked').length,
      paused: tiles.filter((x) => x.online && x.paused).length,
      today: { total: t.total, bad: t.bad, satisfaction: t.satisfaction },
      orders: this.workOrders.counts(),
      alerts: this.alerts.open().length,
    };
  }
}
