/**
 * The forward queue as hall IT sees it: backlog, what the province refused and why, and
 * re-pushing after a fix. Plain functions over the hub database, so the API, the CLI and the
 * web page read the same numbers whether or not a forwarder is running.
 */
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import type { Evaluation } from './evaluation.js';
import type { Destination } from './messages.js';

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

/**
 * The queue carries more than evaluations (messages.ts): work-order milestones, invalidations,
 * hand-offs — to the province or to the hand-off destination. The table is rebuilt (SQLite's
 * documented way: create, copy with the rowids, drop, rename) because its kind CHECK allowed only
 * the evaluation kinds; kinds are now checked in code (message-kinds.ts), so adding one needs no
 * migration. New columns: destination; subject (what a message is about, e.g. the evaluation of a
 * 差评, for ordering); after_id (not sent before that row is out of pending — a correction's
 * default, taken over from its payload, and a milestone's evaluation or previous milestone).
 */
export const FORWARD_MESSAGES_MIGRATION = `
  CREATE TABLE forward_queue_v2 (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    destination TEXT NOT NULL DEFAULT 'province' CHECK (length(destination) BETWEEN 1 AND 32),
    record_id TEXT REFERENCES ratings (id),
    subject TEXT,
    after_id TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'rejected')),
    enqueued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL DEFAULT 0,
    forwarded_at INTEGER,
    last_error TEXT,
    reply TEXT,
    rejected_at INTEGER,
    repushed_at INTEGER,
    repush_count INTEGER NOT NULL DEFAULT 0
  );
  -- rowids are kept: the statistics' watermark counts in forward_queue rowids.
  INSERT INTO forward_queue_v2 (rowid, id, kind, destination, record_id, subject, after_id, payload, state, enqueued_at, attempts, next_at, forwarded_at, last_error, reply, rejected_at, repushed_at, repush_count)
    SELECT rowid, id, kind, 'province', record_id, NULL, CASE WHEN kind = 'correction' THEN json_extract(payload, '$.supersedes') END,
           payload, state, enqueued_at, attempts, next_at, forwarded_at, last_error, reply, rejected_at, repushed_at, repush_count
      FROM forward_queue ORDER BY rowid;
  DROP TABLE forward_queue;
  ALTER TABLE forward_queue_v2 RENAME TO forward_queue;
  CREATE INDEX forward_queue_pending ON forward_queue (state, next_at);
  CREATE INDEX forward_queue_by_age ON forward_queue (state, enqueued_at);
  CREATE INDEX forward_queue_by_destination ON forward_queue (destination, state, enqueued_at);
  CREATE INDEX forward_queue_by_subject ON forward_queue (subject) WHERE subject IS NOT NULL;
`;

/**
 * Issue 14: the queued JSON in a table of its own, keyed by the queue row's rowid. A row is
 * written once and then updated by every outcome (done, retry, refused, re-push); SQLite
 * rewrites a row's whole record on any UPDATE, so with the ~1.5 KB payload inline, marking an
 * evaluation sent rewrote it and dirtied two pages per row (most of the forwarder's SQLite
 * work per evaluation, and the WAL checkpoints those pages caused). The payload never changes
 * after enqueueing. DROP COLUMN rewrites the rows in place, keeping their rowids; the hub never
 * VACUUMs (which could renumber them), and the statistics' watermark counts in them too.
 */
export const FORWARD_PAYLOAD_MIGRATION = `
  CREATE TABLE forward_payload (
    n INTEGER PRIMARY KEY, -- forward_queue.rowid
    payload TEXT NOT NULL
  );
  INSERT INTO forward_payload (n, payload) SELECT rowid, payload FROM forward_queue;
  ALTER TABLE forward_queue DROP COLUMN payload;
`;

/**
 * Issue 14: every outcome the forwarder writes moves a row out of 'pending', and each index with
 * `state` in it moves its entry too (a delete and an insert, into the ever-growing 'done' part).
 * forward_queue_by_destination (destination, state, enqueued_at) serves every query on state —
 * the due read, the backlog, nextDue, the counts, re-push, retry-now — so the two older ones
 * only cost: (state, next_at) and (state, enqueued_at). Measured over one pass of 5,000 queued
 * evaluations: the marks' CPU −13 % at batch 50, −30 % at batch 200; and ingest's enqueue
 * inserts two index entries fewer per evaluation.
 */
export const FORWARD_QUEUE_INDEXES_MIGRATION = `
  DROP INDEX IF EXISTS forward_queue_pending;
  DROP INDEX IF EXISTS forward_queue_by_age;
`;

/**
 * Issue 14: queue rows per destination, kind and state, kept by triggers in the statement that
 * changes a row (an INSERT OR IGNORE that ignores changes nothing). The backlog gauge is read
 * every second and on every /metrics scrape: count(*) over the pending part of the index took
 * 125–450 ms with 600,000 pending (a whole hall's week-long backlog) on this 2-core machine
 * while it drained, the event loop blocked each time. Now one row per kind is read. A later
 * migration that rebuilds forward_queue (as FORWARD_MESSAGES_MIGRATION did) drops these triggers
 * with the table: it must create them again and recount. `hub verify` recounts them.
 */
export const FORWARD_COUNTS_MIGRATION = `
  CREATE TABLE forward_counts (
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (destination, kind, state)
  ) WITHOUT ROWID;
  INSERT INTO forward_counts (destination, kind, state, n) SELECT destination, kind, state, count(*) FROM forward_queue GROUP BY 1, 2, 3;
  CREATE TRIGGER forward_counts_insert AFTER INSERT ON forward_queue BEGIN
    INSERT INTO forward_counts (destination, kind, state, n) VALUES (NEW.destination, NEW.kind, NEW.state, 1)
      ON CONFLICT (destination, kind, state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER forward_counts_update AFTER UPDATE OF destination, kind, state ON forward_queue
    WHEN OLD.destination IS NOT NEW.destination OR OLD.kind IS NOT NEW.kind OR OLD.state IS NOT NEW.state
  BEGIN
    UPDATE forward_counts SET n = n - 1 WHERE destination = OLD.destination AND kind = OLD.kind AND state = OLD.state;
    INSERT INTO forward_counts (destination, kind, state, n) VALUES (NEW.destination, NEW.kind, NEW.state, 1)
      ON CONFLICT (destination, kind, state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER forward_counts_delete AFTER DELETE ON forward_queue BEGIN
    UPDATE forward_counts SET n = n - 1 WHERE destination = OLD.destination AND kind = OLD.kind AND state = OLD.state;
  END;
`;

/** Where the kept counts differ from a recount of the queue, with both figures (empty when all agree; `hub verify` reports them). */
export function checkForwardCounts(db: Db): { destination: string; kind: string; state: string; kept: number; fresh: number }[] {
  return db
    .prepare<[], { destination: string; kind: string; state: string; kept: number; fresh: number }>(
      `WITH fresh AS (SELECT destination, kind, state, count(*) AS n FROM forward_queue GROUP BY 1, 2, 3),
        kept AS (SELECT destination, kind, state, n FROM forward_counts WHERE n <> 0)
      SELECT k.destination, k.kind, k.state, k.n AS kept, coalesce(f.n, 0) AS fresh FROM kept k LEFT JOIN fresh f USING (destination, kind, state) WHERE f.n IS NOT k.n
      UNION ALL
      SELECT f.destination, f.kind, f.state, 0, f.n FROM fresh f LEFT JOIN kept k USING (destination, kind, state) WHERE k.n IS NULL`,
    )
    .all();
}

/**
 * Stores a queue row's payload; call right after its forward_queue INSERT inserted a row (not
 * when an INSERT OR IGNORE ignored a repeat), in the same transaction.
 */
export function storePayload(db: Db, queueRowid: number | bigint, json: string): void {
  prepared(db, 'INSERT INTO forward_payload (n, payload) VALUES (?, ?)').run(queueRowid, json);
}

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

export function backlog(db: Db, now: number = Date.now(), destination: Destination = 'province'): BacklogInfo {
  const count = prepared<[string], { n: number }>(
    db,
    "SELECT coalesce(sum(n), 0) AS n FROM forward_counts WHERE destination = ? AND state = 'pending'",
  ).get(destination)!.n;
  // The first entry of the pending part of forward_queue_by_destination.
  const oldest = prepared<[string], { t: number | null }>(
    db,
    "SELECT min(enqueued_at) AS t FROM forward_queue WHERE destination = ? AND state = 'pending'",
  ).get(destination)!.t;
  return {
    count,
    oldestEnqueuedAt: oldest,
    oldestAgeS: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000)),
  };
}

/** Queue rows per state of one destination, or of all, from the kept counts. */
export function countsByState(db: Db, destination?: Destination): Map<string, number> {
  const rows = destination
    ? prepared<[string], { state: string; n: number }>(
        db,
        'SELECT state, sum(n) AS n FROM forward_counts WHERE destination = ? GROUP BY state',
      ).all(destination)
    : prepared<[], { state: string; n: number }>(db, 'SELECT state, sum(n) AS n FROM forward_counts GROUP BY state').all();
  return new Map(rows.map((r) => [r.state, r.n]));
}

/** The numbers the API, `/metrics` and the web page show. */
export function forwardingCounts(db: Db, now: number = Date.now(), destination: Destination = 'province'): ForwardingCounts {
  const by = countsByState(db, destination);
  const last = db
    .prepare<[string], { t: number | null }>("SELECT max(forwarded_at) AS t FROM forward_queue WHERE destination = ? AND state = 'done'")
    .get(destination)!;
  return { backlog: backlog(db, now, destination), done: by.get('done') ?? 0, rejected: by.get('rejected') ?? 0, lastForwardedAt: last.t };
}

/** Queue rows per kind and state for one destination (evaluations, milestones, invalidations …). */
export function countsByKind(db: Db, destination: Destination = 'province'): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of prepared<[string], { kind: string; state: string; n: number }>(
    db,
    'SELECT kind, state, n FROM forward_counts WHERE destination = ? AND n <> 0',
  ).all(destination)) {
    (out[r.kind] ??= {})[r.state] = r.n;
  }
  return out;
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
  /** Null for a row queued without one (the forwarder refuses it: nothing to send). */
  payload: string | null;
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
  const e = (parseJson(r.payload) ?? {}) as Partial<Evaluation>;
  return {
    id: r.id,
    kind: r.kind,
    enqueuedAt: r.enqueued_at,
    rejectedAt: r.rejected_at,
    attempts: r.attempts,
    reason: r.last_error,
    reply: parseJson(r.reply),
    repushCount: r.repush_count,
    // Milestones, invalidations and hand-offs carry window, level and cases at their top level too.
    summary: {
      window: e.window ?? '',
      device: e.device ?? null,
      staffId: e.staffId ?? null,
      level: e.level ?? 0,
      cases: e.session?.cases ?? (e as { cases?: string[] }).cases ?? [],
      assessedAt: e.assessedAt ?? (e as { at?: number }).at ?? 0,
    },
  };
}

/** Refused evaluations (and messages), newest refusal first; page with `before` (a rejectedAt). */
export function listRejected(db: Db, o: { limit?: number; before?: number; destination?: Destination } = {}): RejectedEntry[] {
  const rows = db
    .prepare<[string, number, number], QueueRow>(
      "SELECT q.*, p.payload FROM forward_queue AS q LEFT JOIN forward_payload AS p ON p.n = q.rowid WHERE destination = ? AND state = 'rejected' AND coalesce(rejected_at, 0) < ? ORDER BY rejected_at DESC, q.rowid DESC LIMIT ?",
    )
    .all(o.destination ?? 'province', o.before ?? Number.MAX_SAFE_INTEGER, Math.min(Math.max(o.limit ?? 100, 1), 1000));
  return rows.map(entry);
}

/** One queued evaluation with its state and payload, whatever its state. */
export function queuedEvaluation(db: Db, id: string): (RejectedEntry & { state: string; evaluation: Evaluation | null }) | null {
  const r = db
    .prepare<[string], QueueRow>(
      'SELECT q.*, p.payload FROM forward_queue AS q LEFT JOIN forward_payload AS p ON p.n = q.rowid WHERE id = ?',
    )
    .get(id);
  return r ? { ...entry(r), state: r.state, evaluation: r.payload === null ? null : (JSON.parse(r.payload) as Evaluation) } : null;
}

/**
 * Puts refused evaluations back in the queue (after the province's rule or the hub's profile
 * was fixed). `ids: 'all'` re-pushes every refused one. Returns the ids actually re-queued.
 */
export function repush(
  db: Db,
  ids: string[] | 'all',
  by: string,
  now: number = Date.now(),
  destination: Destination = 'province',
): string[] {
  return db.transaction(() => {
    const targets =
      ids === 'all'
        ? db
            .prepare<[string], { id: string; last_error: string | null }>(
              "SELECT id, last_error FROM forward_queue WHERE destination = ? AND state = 'rejected'",
            )
            .all(destination)
        : ids
            .map((id) =>
              db
                .prepare<[string], { id: string; last_error: string | null }>(
                  "SELECT id, last_error FROM forward_queue WHERE id = ? AND state = 'rejected'",
                )
                .get(id),
            )
            .filter((r) => !!r);
    const log = db.prepare('INSERT INTO forward_repush_log (id, at, by, previous_reason) VALUES (?, ?, ?, ?)');
    const requeue = db.prepare(
      "UPDATE forward_queue SET state = 'pending', next_at = 0, repushed_at = ?, repush_count = repush_count + 1 WHERE id = ? AND state = 'rejected'",
    );
    for (const t of targets) {
      requeue.run(now, t.id);
      log.run(t.id, now, by.slice(0, 200), t.last_error);
    }
    return targets.map((t) => t.id);
  })();
}
