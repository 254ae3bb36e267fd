/**
 * Signed daily checkpoints, kept in `ledger_checkpoints`. After a China-time day has ended,
 * the hub computes that day's digest (hub/ledger/digest.ts) from what it stored, signs it with
 * its own key, and keeps it — in the same transaction it hands it to `onMade`, which puts it
 * in the durable queue towards the province. Days are made in order without holes, each
 * naming the hash of the one before, so a removed checkpoint breaks the next one.
 */
import { dayFromNumber, dayNumber } from '../calendar/working-days.js';
import { GENESIS_HASH } from '../../protocol/index.js';
import type { Db } from '../store/db.js';
import { checkpointHash, digestOf, signDigest, type DayDigest, type LedgerRow, type SignedCheckpoint } from './digest.js';
import type { HubKey } from './hub-key.js';

const DAY_MS = 86_400_000;
const CHINA_OFFSET_MS = 8 * 3_600_000;

/** [from, to) in ms of a day number (China time). */
export function dayBounds(day: number): { from: number; to: number } {
  const from = day * DAY_MS - CHINA_OFFSET_MS;
  return { from, to: from + DAY_MS };
}

export interface StoredCheckpoint extends SignedCheckpoint {
  day: number;
  madeAt: number;
}

/** A checkpoint as it travels to the province (and sits in an export). */
export interface CheckpointMessage {
  kind: 'checkpoint';
  hall: string;
  day: string;
  /** The canonical JSON the hub signed (a DayDigest). */
  body: string;
  sig: string;
  /** The hub's public key, base64 SPKI: for reference; a verifier should pin the key it was given. */
  publicKey: string;
}

/** The digest of one day computed from the database as it is now. */
export function computeDayDigest(db: Db, hall: string, day: number, prevCheckpoint: string): DayDigest {
  const { from, to } = dayBounds(day);
  const rows = db
    .prepare<[number, number], LedgerRow>(
      'SELECT id, hash, device, epoch, seq, kind, level FROM ratings WHERE received_at >= ? AND received_at < ?',
    )
    .all(from, to);
  const keyStmt = db.prepare<[string, number], { public_key: string }>('SELECT public_key FROM device_keys WHERE device = ? AND epoch = ?');
  return digestOf({
    hall,
    day: dayFromNumber(day),
    from,
    to,
    rows,
    keyOf: (d, e) => keyStmt.get(d, e)?.public_key ?? null,
    prevCheckpoint,
  });
}

export class Checkpoints {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly hall: string,
    private readonly key: HubKey,
    /** Runs inside the transaction that stores each new checkpoint (e.g. queue it for the province). */
    private readonly onMade: (m: CheckpointMessage, madeAt: number) => void = () => {},
  ) {
    this.s = {
      last: db.prepare<[], { day: number; body: string }>('SELECT day, body FROM ledger_checkpoints ORDER BY day DESC LIMIT 1'),
      firstReceived: db.prepare<[], { at: number | null }>('SELECT min(received_at) AS at FROM ratings'),
      insert: db.prepare('INSERT INTO ledger_checkpoints (day, body, sig, made_at) VALUES (?, ?, ?, ?)'),
      get: db.prepare<[number], { day: number; body: string; sig: string; made_at: number }>(
        'SELECT day, body, sig, made_at FROM ledger_checkpoints WHERE day = ?',
      ),
    };
  }

  /**
   * Makes the checkpoints of every ended day not yet made (from the first day anything was
   * received), oldest first, at most `maxDays` per call. A day has ended when `now` is at
   * least `graceMs` past its midnight, so a record received at 23:59:59 has committed.
   */
  makeDue(now: number, graceMs = 10 * 60_000, maxDays = 62): StoredCheckpoint[] {
    const made: StoredCheckpoint[] = [];
    const lastClosed = dayNumber(now - graceMs) - 1;
    for (let i = 0; i < maxDays; i++) {
      const c = this.db.transaction(() => {
        const last = this.s.last.get();
        let day: number;
        if (last) day = last.day + 1;
        else {
          const first = this.s.firstReceived.get()!.at;
          if (first === null) return null;
          day = dayNumber(first);
        }
        if (day > lastClosed) return null;
        const digest = computeDayDigest(this.db, this.hall, day, last ? checkpointHash(last.body) : GENESIS_HASH);
        const signed = signDigest(digest, this.key.privateKey);
        this.s.insert.run(day, signed.body, signed.sig, now);
        this.onMade(this.message(day, signed), now);
        return { day, ...signed, madeAt: now };
      })();
      if (!c) break;
      made.push(c);
    }
    return made;
  }

  message(day: number, c: SignedCheckpoint): CheckpointMessage {
    return { kind: 'checkpoint', hall: this.hall, day: dayFromNumber(day), body: c.body, sig: c.sig, publicKey: this.key.publicKeyB64 };
  }

  get(day: number): StoredCheckpoint | null {
    const r = this.s.get.get(day);
    return r ? { day: r.day, body: r.body, sig: r.sig, madeAt: r.made_at } : null;
  }
}
