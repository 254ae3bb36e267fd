import Database from 'better-sqlite3';
import { EMPTY_CHAIN, recordHash, RatingRecordSchema, type ChainHead, type RatingRecord } from '../../protocol/index.js';

export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError';
  constructor(readonly capacity: number) {
    super(`outbox holds ${capacity} undelivered records, its capacity; refusing new ratings until the hub takes some`);
  }
}

export interface OutboxStats {
  depth: number;
  capacity: number;
  lastSeq: number;
  /** Device wall-clock time of the oldest undelivered record (display only: never used to order or expire). */
  oldestCreatedAt: number | null;
  rejected: number;
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

  constructor(
    path: string,
    readonly capacity = 100_000,
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
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
    `);
    this.stmts = {
      head: this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM chain WHERE id = 1'),
      setHead: this.db.prepare('INSERT INTO chain (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash'),
      insert: this.db.prepare('INSERT INTO records (seq, id, body, created_at) VALUES (?, ?, ?, ?)'),
      depth: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE state = 'pending'"),
      pending: this.db.prepare<[number, number], { body: string }>("SELECT body FROM records WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?"),
      ack: this.db.prepare("UPDATE records SET state = 'acked' WHERE seq = ? AND id = ? AND state = 'pending'"),
      reject: this.db.prepare("UPDATE records SET state = 'rejected', reject_reason = ? WHERE seq = ? AND id = ? AND state = 'pending'"),
      oldest: this.db.prepare<[], { created_at: number }>("SELECT created_at FROM records WHERE state = 'pending' ORDER BY seq LIMIT 1"),
      rejected: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE state = 'rejected'"),
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
    return this.db.transaction(() => {
      if (this.depth() >= this.capacity) throw new OutboxFullError(this.capacity);
      const head = this.head();
      const record = RatingRecordSchema.parse(build({ seq: head.seq + 1, prev: head.hash }));
      if (record.seq !== head.seq + 1 || record.prev !== head.hash) throw new Error('record does not continue the chain');
      this.stmts.insert.run(record.seq, record.id, JSON.stringify(record), record.at);
      this.stmts.setHead.run(record.seq, recordHash(record));
      return record;
    }).immediate();
  }

  /** Undelivered records in sequence order, starting after `afterSeq`. */
  pending(limit: number, afterSeq = 0): RatingRecord[] {
    return this.stmts.pending.all(afterSeq, limit).map((r) => JSON.parse(r.body) as RatingRecord);
  }

  /** Marks records the hub stored; both seq and id must match. Returns how many changed. */
  markAcked(acks: readonly { seq: number; id: string }[]): number {
    return this.db.transaction(() => acks.reduce((n, a) => n + this.stmts.ack.run(a.seq, a.id).changes, 0))();
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
      rejected: this.stmts.rejected.get()!.n,
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
