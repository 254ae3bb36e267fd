/**
 * The forward queue as hall IT sees it: backlog, what the province refused and why, and
 * re-pushing after a fix. Plain functions over the hub database, so the API, the CLI and the
 * web page read the same numbers whether or not a forwarder is running.
 */
import type { Db } from '../store/db.js';
import type { Evaluation } from './evaluation.js';

/**
 * Appended to the hub's MIGRATIONS: when a row was refused, re-push history, and an index that
 * keeps "oldest pending first" and the backlog age cheap with a large backlog.
 */
export const FORWARD_QUEUE_MIGRATION = `
  ALTER TABLE forward_queue ADD COLUMN rejected_at INTEGER;
  ALTER TABLE forward_queue ADD COLUMN repushed_at INTEGER;
  ALTER TABLE forward_queue ADD COLUMN repush_count INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX forward_queue_by_age ON forward_queue (state, enqueued_at);
  -- Who sent a refused evaluation again, and what the province had said: the reply column is
  -- overwritten by the next answer, this log is not.
  CREATE TABLE forward_repush_log (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL REFERENCES forward_queue (id),
    at INTEGER NOT NULL,
    by TEXT NOT NULL,
    previous_reason TEXT
  );
`;

export interface BacklogInfo {
  count: number;
  oldestEnqueuedAt: number | null;
  oldestAgeS: number | null;
}

export interface ForwardingCounts {
  backlog: BacklogInfo;
  /** Accepted by the province (or reported as already there). */
  done: number;
  /** Refused by the province for good; kept, listed, re-pushable. */
  rejected: number;
  lastForwardedAt: number | null;
}

export function backlog(db: Db, now: number = Date.now()): BacklogInfo {
  const b = db.prepare<[], { n: number; oldest: number | null }>("SELECT count(*) AS n, min(enqueued_at) AS oldest FROM forward_queue WHERE state = 'pending'").get()!;
  return { count: b.n, oldestEnqueuedAt: b.oldest, oldestAgeS: b.oldest === null ? null : Math.max(0, Math.round((now - b.oldest) / 1000)) };
}

/** The numbers the API, `/metrics` and the web page show. */
export function forwardingCounts(db: Db, now: number = Date.now()): ForwardingCounts {
  const by = new Map(db.prepare<[], { state: string; n: number }>('SELECT state, count(*) AS n FROM forward_queue GROUP BY state').all().map((r) => [r.state, r.n]));
  const last = db.prepare<[], { t: number | null }>("SELECT max(forwarded_at) AS t FROM forward_queue WHERE state = 'done'").get()!;
  return { backlog: backlog(db, now), done: by.get('done') ?? 0, rejected: by.get('rejected') ?? 0, lastForwardedAt: last.t };
}

export interface RejectedEntry {
  id: string;
  kind: string;
  enqueuedAt: number;
  rejectedAt: number | null;
  attempts: number;
  reason: string | null;
  /** The province's answer as stored (per key for a batch session). */
  reply: unknown;
  repushCount: number;
  /** Enough to find the rating without opening the payload. */
  summary: { window: string; device: string | null; staffId: string | null; level: number; cases: string[]; assessedAt: number };
}

interface QueueRow {
  id: string;
  kind: string;
  payload: string;
  enqueued_at: number;
  rejected_at: number | null;
  attempts: number;
  last_error: string | null;
  reply: string | null;
  repush_count: number;
  state: string;
}

function parseJson(s: string | null): unknown {
  if (s === null) return null;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function entry(r: QueueRow): RejectedEntry {
  const e = parseJson(r.payload) as Partial<Evaluation>;
  return {
    id: r.id,
    kind: r.kind,
    enqueuedAt: r.enqueued_at,
    rejectedAt: r.rejected_at,
    attempts: r.attempts,
    reason: r.last_error,
    reply: parseJson(r.reply),
    repushCount: r.repush_count,
    summary: { window: e.window ?? '', device: e.device ?? null, staffId: e.staffId ?? null, level: e.level ?? 0, cases: e.session?.cases ?? [], assessedAt: e.assessedAt ?? 0 },
  };
}

/** Refused evaluations, newest refusal first; page with `before` (a rejectedAt). */
export function listRejected(db: Db, o: { limit?: number; before?: number } = {}): RejectedEntry[] {
  const rows = db
    .prepare<[number, number], QueueRow>("SELECT * FROM forward_queue WHERE state = 'rejected' AND coalesce(rejected_at, 0) < ? ORDER BY rejected_at DESC, rowid DESC LIMIT ?")
    .all(o.before ?? Number.MAX_SAFE_INTEGER, Math.min(Math.max(o.limit ?? 100, 1), 1000));
  return rows.map(entry);
}

/** One queued evaluation with its state and payload, whatever its state. */
export function queuedEvaluation(db: Db, id: string): (RejectedEntry & { state: string; evaluation: Evaluation }) | null {
  const r = db.prepare<[string], QueueRow>('SELECT * FROM forward_queue WHERE id = ?').get(id);
  return r ? { ...entry(r), state: r.state, evaluation: JSON.parse(r.payload) as Evaluation } : null;
}

/**
 * Puts refused evaluations back in the queue (after the province's rule or the hub's profile
 * was fixed). `ids: 'all'` re-pushes every refused one. Returns the ids actually re-queued.
 */
export function repush(db: Db, ids: string[] | 'all', by: string, now: number = Date.now()): string[] {
  return db.transaction(() => {
    const targets =
      ids === 'all'
        ? db.prepare<[], { id: string; last_error: string | null }>("SELECT id, last_error FROM forward_queue WHERE state = 'rejected'").all()
        : ids.map((id) => db.prepare<[string], { id: string; last_error: string | null }>("SELECT id, last_error FROM forward_queue WHERE id = ? AND state = 'rejected'").get(id)).filter((r) => !!r);
    const log = db.prepare('INSERT INTO forward_repush_log (id, at, by, previous_reason) VALUES (?, ?, ?, ?)');
    const requeue = db.prepare("UPDATE forward_queue SET state = 'pending', next_at = 0, repushed_at = ?, repush_count = repush_count + 1 WHERE id = ? AND state = 'rejected'");
    for (const t of targets) {
      requeue.run(now, t.id);
      log.run(t.id, now, by.slice(0, 200), t.last_error);
    }
    return targets.map((t) => t.id);
  })();
}
