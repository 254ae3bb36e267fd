import Database from 'better-sqlite3';
import { preparePrivateDb, tightenDbFiles } from '../../common/private-files.js';
import {
  EMPTY_CHAIN,
  MAX_BYTES,
  OversizedMessageError,
  recordHash,
  RatingRecordSchema,
  wireBytes,
  type ChainHead,
  type RatingRecord,
} from '../../protocol/index.js';

/** The outbox's file name in the device data directory. */
export const OUTBOX_FILE = 'outbox.db';

export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError';
  constructor(readonly capacity: number) {
    super(`outbox holds ${capacity} undelivered records, its capacity; refusing new ratings until the hub takes some`);
  }
}

/** The disk (or the outbox's size cap) has no room for the record: nothing was written. */
export class OutboxStorageFullError extends Error {
  override readonly name = 'OutboxStorageFullError';
  constructor(override readonly cause: Error) {
    super(`no room on the storage for the record (${(cause as { code?: string }).code ?? cause.message}); it was not written`);
  }
}

/** Any other storage failure (I/O error, a damaged file): nothing was written. */
export class OutboxStorageError extends Error {
  override readonly name = 'OutboxStorageError';
  constructor(override readonly cause: Error) {
    super(`the outbox could not write the record: ${cause.message}`);
  }
}

export interface OutboxOptions {
  /** Undelivered records it holds at most; when full it refuses new ones (never drops old ones). */
  capacity?: number;
  /** Delivered (acknowledged) records kept for `device status` and diagnosis, newest by sequence. */
  retainDelivered?: number;
  /** Caps the database file at this many pages (4 KiB each), e.g. to protect a small SD card. */
  maxPages?: number;
}

export interface OutboxStats {
  depth: number;
  capacity: number;
  lastSeq: number;
  /** Device wall-clock time of the oldest undelivered record (display only: never used to order or expire). */
  oldestCreatedAt: number | null;
  /** Boot id and monotonic time of the oldest undelivered record: its age, when it is from this boot. */
  oldest: { bootId: string; mono: number; at: number; clockSynced: boolean } | null;
  rejected: number;
  /** Delivered records still kept (bounded by retainDelivered). */
  delivered: number;
}

/**
 * The device's durable outbox. A rating is committed here (WAL, synchronous=FULL: fsync'd)
 * before the citizen is thanked; it is deleted only after the hub acknowledged storing it.
 * The outbox also owns the device's sequence counter and hash chain head, so both survive
 * reboots and advance in the same transaction as the record they describe.
 */
export class Outbox {
  private readonly db: Database.Database;
  private readonly stmts;
  readonly capacity: number;
  readonly retainDelivered: number;

  /** `options` may be a number: the capacity (the foundation's signature). */
  constructor(path: string, options: number | OutboxOptions = {}) {
    const o = typeof options === 'number' ? { capacity: options } : options;
    this.capacity = o.capacity ?? 100_000;
    this.retainDelivered = o.retainDelivered ?? 1000;
    // Unsent ratings: readable by the agent's user only (0600, also -wal/-shm).
    preparePrivateDb(path);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    tightenDbFiles(path);
    this.db.pragma('synchronous = FULL');
    if (o.maxPages) this.db.pragma(`max_page_count = ${Math.floor(o.maxPages)}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS chain (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'rejected')),
        reject_reason TEXT
      );
      CREATE INDEX IF NOT EXISTS records_by_state ON records (state, seq);
      CREATE TABLE IF NOT EXISTS probe (x BLOB);
    `);
    this.stmts = {
      head: this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM chain WHERE id = 1'),
      setHead: this.db.prepare(
        'INSERT INTO chain (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
      ),
      insert: this.db.prepare('INSERT INTO records (seq, id, body, created_at) VALUES (?, ?, ?, ?)'),
      depth: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE state = 'pending'"),
      pending: this.db.prepare<[number, number], { seq: number; id: string; body: string }>(
        "SELECT seq, id, body FROM records WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
      ),
      ack: this.db.prepare("UPDATE records SET state = 'acked' WHERE seq = ? AND id = ? AND state = 'pending'"),
      rewind: this.db.prepare("UPDATE records SET state = 'pending' WHERE state = 'acked' AND seq > ?"),
      reject: this.db.prepare("UPDATE records SET state = 'rejected', reject_reason = ? WHERE seq = ? AND id = ? AND state = 'pending'"),
      oldest: this.db.prepare<[], { created_at: number }>("SELECT created_at FROM records WHERE state = 'pending' ORDER BY seq LIMIT 1"),
      rejected: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE state = 'rejected'"),
      delivered: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE state = 'acked'"),
      oldestBody: this.db.prepare<[], { body: string }>("SELECT body FROM records WHERE state = 'pending' ORDER BY seq LIMIT 1"),
      // Retention by sequence, never by wall clock: keep the newest N delivered records.
      prune: this.db.prepare<[number]>(
        "DELETE FROM records WHERE state = 'acked' AND seq <= (SELECT seq FROM records WHERE state = 'acked' ORDER BY seq DESC LIMIT 1 OFFSET ?)",
      ),
      probeIn: this.db.prepare('INSERT INTO probe (x) VALUES (zeroblob(16384))'),
      probeOut: this.db.prepare('DELETE FROM probe'),
    };
  }

  head(): ChainHead {
    return this.stmts.head.get() ?? EMPTY_CHAIN;
  }

  depth(): number {
    return this.stmts.depth.get()!.n;
  }

  /**
   * Appends the next record of the chain. `build` receives the seq and prev the record must
   * carry and returns it signed; it runs inside the transaction, so seq and chain never skip.
   * When this returns, the record is on disk.
   */
  append(build: (link: { seq: number; prev: string }) => RatingRecord): RatingRecord {
    try {
      return this.appendTx(build);
    } catch (e) {
      throw classify(e);
    }
  }

  private appendTx(build: (link: { seq: number; prev: string }) => RatingRecord): RatingRecord {
    return this.db
      .transaction(() => {
        if (this.depth() >= this.capacity) throw new OutboxFullError(this.capacity);
        const head = this.head();
        const record = RatingRecordSchema.parse(build({ seq: head.seq + 1, prev: head.hash }));
        if (record.seq !== head.seq + 1 || record.prev !== head.hash) throw new Error('record does not continue the chain');
        // A record the wire would refuse is never committed (and so never thanked): nothing is written.
        const bytes = wireBytes(record);
        if (bytes > MAX_BYTES.rating) throw new OversizedMessageError('rating', bytes, MAX_BYTES.rating, `record ${record.id}`);
        this.stmts.insert.run(record.seq, record.id, JSON.stringify(record), record.at);
        this.stmts.setHead.run(record.seq, recordHash(record));
        return record;
      })
      .immediate();
  }

  /**
   * Runs `fn` — appends — as one transaction: one commit and one fsync for all of them, and
   * none of them if `fn` throws. Each append still checks capacity, chain and size. For
   * filling an outbox in bulk (bench/backlog.ts prefills a week of ratings); the agent
   * commits each rating on its own before it thanks the citizen.
   */
  appendInOneTransaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      throw classify(e);
    }
  }

  /** Undelivered records in sequence order, starting after `afterSeq`. */
  pending(limit: number, afterSeq = 0): RatingRecord[] {
    return this.stmts.pending.all(afterSeq, limit).map((r) => JSON.parse(r.body) as RatingRecord);
  }

  /**
   * The same records as they are sent: the JSON committed by append (`body`, exactly the
   * record's JSON.stringify), with their seq and id. The link publishes these; parsing each body
   * only to serialise it again cost the agent's event loop ~0.1–0.2 ms a record, interpreted
   * (issue 14).
   */
  pendingWire(limit: number, afterSeq = 0): { seq: number; id: string; body: string }[] {
    return this.stmts.pending.all(afterSeq, limit);
  }

  /** Records refused for good (by the hub, or by this device before sending): kept, never resent. */
  rejectedCount(): number {
    return this.stmts.rejected.get()!.n;
  }

  /**
   * The hub says it holds this device's records only up to `seq` (it was restored from a
   * backup): delivered records after it that are still kept become undelivered again, to be
   * sent again. Returns how many.
   */
  rewindAfter(seq: number): number {
    return this.stmts.rewind.run(seq).changes;
  }

  /**
   * Marks records the hub stored; both seq and id must match. Returns how many changed.
   * Delivered records beyond the retention are deleted in the same transaction.
   */
  markAcked(acks: readonly { seq: number; id: string }[]): number {
    // Committed without an fsync (WAL, synchronous=NORMAL): a mark lost to a power cut only
    // means the record is sent again, and the hub answers a record id it holds with an ack
    // (it deduplicates). The next rating's FULL commit fsyncs the log, marks before it included.
    // With an fsync here every ack cost a second fsync per citizen, and a press arriving meanwhile
    // waited for it (issue 14: process path p99).
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.db.transaction(() => {
        const n = acks.reduce((k, a) => k + this.stmts.ack.run(a.seq, a.id).changes, 0);
        if (n) this.stmts.prune.run(this.retainDelivered);
        return n;
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** SQLite's synchronous level for this connection now (2 = FULL): what the next commit gets. */
  syncLevel(): number {
    return this.db.pragma('synchronous', { simple: true }) as number;
  }

  /**
   * Can a record be written now? Checks the capacity and then really writes (and removes) 16 KiB
   * in a committed transaction — the only honest test of a disk that was full. Used to come
   * back into service; costs one fsync.
   */
  canAccept(): { ok: true } | { ok: false; error: OutboxFullError | OutboxStorageFullError | OutboxStorageError } {
    if (this.depth() >= this.capacity) return { ok: false, error: new OutboxFullError(this.capacity) };
    try {
      this.db
        .transaction(() => {
          this.stmts.probeIn.run();
          this.stmts.probeOut.run();
        })
        .immediate();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: classify(e) as OutboxStorageFullError | OutboxStorageError };
    }
  }

  /** The hub refuses these for good; they stay here, visible, and stop being resent. */
  markRejected(rejects: readonly { seq: number; id: string; reason: string }[]): number {
    return this.db.transaction(() => rejects.reduce((n, r) => n + this.stmts.reject.run(r.reason, r.seq, r.id).changes, 0))();
  }

  stats(): OutboxStats {
    return {
      depth: this.depth(),
      capacity: this.capacity,
      lastSeq: this.head().seq,
      oldestCreatedAt: this.stmts.oldest.get()?.created_at ?? null,
      oldest: this.oldest(),
      rejected: this.stmts.rejected.get()!.n,
      delivered: this.stmts.delivered.get()!.n,
    };
  }

  private oldest(): OutboxStats['oldest'] {
    const row = this.stmts.oldestBody.get();
    if (!row) return null;
    const r = JSON.parse(row.body) as RatingRecord;
    return { bootId: r.bootId, mono: r.mono, at: r.at, clockSynced: r.clockSynced };
  }

  /** Records the hub refused for good, for hall IT (they stay; they are never resent). */
  rejectedRecords(limit = 100): { record: RatingRecord; reason: string }[] {
    return this.db
      .prepare<[number], { body: string; reject_reason: string }>(
        "SELECT body, reject_reason FROM records WHERE state = 'rejected' ORDER BY seq LIMIT ?",
      )
      .all(limit)
      .map((r) => ({ record: JSON.parse(r.body) as RatingRecord, reason: r.reject_reason }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function classify(e: unknown): unknown {
  if (e instanceof OutboxFullError || !(e instanceof Error)) return e;
  const code = (e as { code?: string }).code ?? '';
  // SQLite says SQLITE_FULL for a full disk and for max_page_count; some write paths report
  // the OS's ENOSPC as an I/O error instead.
  const full = code === 'SQLITE_FULL' || code === 'ENOSPC' || (code.startsWith('SQLITE_IOERR') && /no space|full/i.test(e.message));
  if (full) return new OutboxStorageFullError(e);
  if (code.startsWith('SQLITE_')) return new OutboxStorageError(e);
  return e;
}
