/**
 * The forwarder: sends stored ratings to the provincial platform from the hub's durable
 * forward_queue, and marks a record forwarded only when the province said it accepted it.
 * A record the province refuses for good is kept with its reply, never dropped.
 */
import type { Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';
import type { Evaluation } from './evaluation.js';

export interface ForwarderOptions {
  db: Db;
  /** Where batches are POSTed. */
  url: string;
  log: Logger;
  metrics: Metrics;
  batchSize?: number;
  /** After a wake-up with less than a full batch, wait this long for more. */
  lingerMs?: number;
  timeoutMs?: number;
  /** Idle poll interval (also picks up retries whose time has come). */
  pollMs?: number;
  maxRetryDelayMs?: number;
  headers?: Record<string, string>;
  now?: () => number;
}

interface Row {
  id: string;
  payload: string;
  attempts: number;
}

/** Puts an evaluation on the forward queue; call inside the transaction that stored its cause. */
export function enqueueEvaluation(db: Db, e: Evaluation, now: number): void {
  let insert = inserts.get(db);
  if (!insert) inserts.set(db, (insert = db.prepare('INSERT INTO forward_queue (id, kind, record_id, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)')));
  insert.run(e.id, e.kind, e.record?.id ?? null, JSON.stringify(e), now);
}
const inserts = new WeakMap<Db, Statement>();

/** The province's answer for one record. */
export interface RecordReply {
  id: string;
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: string;
}

export class Forwarder {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly now: () => number;
  private readonly stmts;

  constructor(private readonly o: ForwarderOptions) {
    this.now = o.now ?? Date.now;
    this.stmts = {
      due: o.db.prepare<[number, number], Row>(
        "SELECT id, payload, attempts FROM forward_queue WHERE state = 'pending' AND next_at <= ? ORDER BY enqueued_at, rowid LIMIT ?",
      ),
      done: o.db.prepare("UPDATE forward_queue SET state = 'done', forwarded_at = ?, reply = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'"),
      rejected: o.db.prepare("UPDATE forward_queue SET state = 'rejected', reply = ?, last_error = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'"),
      retry: o.db.prepare("UPDATE forward_queue SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ? AND state = 'pending'"),
      backlog: o.db.prepare<[], { n: number; oldest: number | null }>("SELECT count(*) AS n, min(enqueued_at) AS oldest FROM forward_queue WHERE state = 'pending'"),
      nextDue: o.db.prepare<[], { t: number | null }>("SELECT min(next_at) AS t FROM forward_queue WHERE state = 'pending'"),
    };
  }

  backlog(): { count: number; oldestEnqueuedAt: number | null } {
    const b = this.stmts.backlog.get()!;
    return { count: b.n, oldestEnqueuedAt: b.oldest };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New records are waiting: send them soon. */
  kick(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        res();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private updateGauges(): void {
    const b = this.backlog();
    this.o.metrics.forwardBacklog.set(b.count);
    this.o.metrics.forwardOldestAge.set(b.oldestEnqueuedAt === null ? 0 : Math.max(0, (this.now() - b.oldestEnqueuedAt) / 1000));
  }

  private async run(): Promise<void> {
    const batchSize = this.o.batchSize ?? 200;
    while (this.running) {
      this.updateGauges();
      let rows = this.stmts.due.all(this.now(), batchSize);
      if (rows.length === 0) {
        const next = this.stmts.nextDue.get()!.t;
        const wait = next === null ? (this.o.pollMs ?? 1000) : Math.max(10, Math.min(next - this.now(), this.o.pollMs ?? 1000));
        await this.sleep(wait);
        continue;
      }
      if (rows.length < batchSize && (this.o.lingerMs ?? 50) > 0) {
        await this.sleep(this.o.lingerMs ?? 50);
        if (!this.running) break;
        rows = this.stmts.due.all(this.now(), batchSize);
        if (rows.length === 0) continue;
      }
      await this.send(rows);
    }
    this.updateGauges();
  }

  private retryDelay(attempts: number): number {
    const ceiling = Math.min(this.o.maxRetryDelayMs ?? 30_000, 500 * 2 ** Math.min(attempts, 16));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  private async send(rows: Row[]): Promise<void> {
    const body = `{"records":[${rows.map((r) => r.payload).join(',')}]}`;
    let replies: RecordReply[];
    try {
      const res = await fetch(this.o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.o.headers },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`province answered ${res.status}: ${text.slice(0, 200)}`);
      replies = (JSON.parse(text) as { results: RecordReply[] }).results;
      if (!Array.isArray(replies)) throw new Error('province reply has no results list');
    } catch (e) {
      const msg = (e as Error).message;
      this.o.metrics.forwardFailures.inc({ kind: (e as Error).name === 'TimeoutError' ? 'timeout' : 'error' });
      this.o.log.warn({ records: rows.length, err: msg }, 'push to province failed; will retry');
      this.o.db.transaction(() => {
        for (const r of rows) this.stmts.retry.run(this.now() + this.retryDelay(r.attempts), msg.slice(0, 500), r.id);
      })();
      return;
    }
    const byId = new Map(replies.map((r) => [r.id, r]));
    let accepted = 0;
    this.o.db.transaction(() => {
      for (const r of rows) {
        const reply = byId.get(r.id);
        if (reply?.status === 'accepted' || reply?.status === 'duplicate') {
          accepted++;
          this.stmts.done.run(this.now(), JSON.stringify(reply), r.id);
        } else if (reply?.status === 'rejected') {
          this.stmts.rejected.run(JSON.stringify(reply), reply.reason ?? 'rejected', r.id);
          this.o.log.error({ id: r.id, reason: reply.reason }, 'province rejected a record; kept for hall IT');
        } else {
          this.stmts.retry.run(this.now() + this.retryDelay(r.attempts), 'no answer for this record', r.id);
        }
      }
    })();
    this.o.metrics.forwarded.inc(accepted);
  }
}
