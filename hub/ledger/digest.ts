/**
 * The daily digest the hub signs, computed the same way from the database (when the
 * checkpoint is made, and when `hub verify` re-checks it) and from an exported day (by
 * `verify-export`, on any machine). Pure: rows in, digest out.
 *
 * A day is a China-time calendar day of the hub's receipt time (`received_at`), not of the
 * device clock: a record that arrives late belongs to the day it arrived, so a checkpoint,
 * once made, never has to change.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { canonical, GENESIS_HASH, sha256Hex } from '../../protocol/index.js';

export const CHECKPOINT_FORMAT = 'haochaping-checkpoint/1';

/** What the digest needs of each stored record. */
export interface LedgerRow {
  id: string;
  hash: string;
  device: string;
  epoch: number;
  seq: number;
  kind: string;
  level: number | null;
}

export interface DeviceHead {
  device: string;
  epoch: number;
  /** The key the device signed this epoch's records with (base64 SPKI), so an export can be checked alone. */
  key: string | null;
  count: number;
  firstSeq: number;
  /** The highest seq received that day and its hash: the device's chain head at the day's end. */
  lastSeq: number;
  lastHash: string;
}

export interface DayDigest {
  format: typeof CHECKPOINT_FORMAT;
  hall: string;
  /** YYYY-MM-DD, China time. */
  day: string;
  /** Records received in [from, to) (ms since the epoch). */
  from: number;
  to: number;
  records: number;
  /** Ratings per level "1".."5" (kind 'rating'); not-rated reports and others in `other`. */
  levels: Record<'1' | '2' | '3' | '4' | '5', number>;
  other: number;
  devices: DeviceHead[];
  /** Merkle root over (id, hash) of the day's records, sorted by id. */
  merkleRoot: string;
  /** sha256 of the previous checkpoint's body (GENESIS_HASH for the first): deleting one breaks the next. */
  prevCheckpoint: string;
}

export function merkleLeaf(id: string, hash: string): string {
  return sha256Hex(`0:${id}:${hash}`);
}

/** A plain binary Merkle tree (an odd node is carried up unchanged); the empty tree is GENESIS_HASH. */
export function merkleRoot(leaves: string[]): string {
  if (leaves.length === 0) return GENESIS_HASH;
  let level = leaves;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha256Hex(`1:${level[i]}${level[i + 1]}`) : level[i]!);
    level = next;
  }
  return level[0]!;
}

export function digestOf(o: {
  hall: string;
  day: string;
  from: number;
  to: number;
  rows: LedgerRow[];
  keyOf: (device: string, epoch: number) => string | null;
  prevCheckpoint: string;
}): DayDigest {
  const levels = { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 };
  let other = 0;
  const heads = new Map<string, DeviceHead>();
  for (const r of o.rows) {
    if (r.kind === 'rating' && r.level !== null && r.level >= 1 && r.level <= 5) levels[String(r.level) as keyof typeof levels]++;
    else other++;
    const k = `${r.device}\u0000${r.epoch}`;
    const h = heads.get(k);
    if (!h)
      heads.set(k, {
        device: r.device,
        epoch: r.epoch,
        key: o.keyOf(r.device, r.epoch),
        count: 1,
        firstSeq: r.seq,
        lastSeq: r.seq,
        lastHash: r.hash,
      });
    else {
      h.count++;
      if (r.seq < h.firstSeq) h.firstSeq = r.seq;
      if (r.seq > h.lastSeq) {
        h.lastSeq = r.seq;
        h.lastHash = r.hash;
      }
    }
  }
  const devices = [...heads.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.epoch - b.epoch));
  const sorted = [...o.rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    format: CHECKPOINT_FORMAT,
    hall: o.hall,
    day: o.day,
    from: o.from,
    to: o.to,
    records: o.rows.length,
    levels,
    other,
    devices,
    merkleRoot: merkleRoot(sorted.map((r) => merkleLeaf(r.id, r.hash))),
    prevCheckpoint: o.prevCheckpoint,
  };
}

/** A checkpoint as kept and sent: the canonical JSON of the digest, and the hub's signature over it. */
export interface SignedCheckpoint {
  body: string;
  sig: string;
}

export function signDigest(d: DayDigest, privateKey: KeyObject): SignedCheckpoint {
  const body = canonical(d);
  return { body, sig: sign(null, Buffer.from(body), privateKey).toString('base64') };
}

export function checkpointSignatureOk(c: SignedCheckpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(c.body), publicKey, Buffer.from(c.sig, 'base64'));
  } catch {
    return false;
  }
}

export function checkpointHash(body: string): string {
  return sha256Hex(body);
}

/** The fields of two digests that differ, as [field, kept, recomputed] (devices compared one by one). */
export function digestDifferences(kept: DayDigest, now: DayDigest): [field: string, kept: string, now: string][] {
  const out: [string, string, string][] = [];
  const cmp = (field: string, a: unknown, b: unknown) => {
    const x = canonical(a ?? null);
    const y = canonical(b ?? null);
    if (x !== y) out.push([field, x, y]);
  };
  for (const f of ['hall', 'day', 'from', 'to', 'records', 'other', 'merkleRoot', 'prevCheckpoint'] as const) cmp(f, kept[f], now[f]);
  for (const l of ['1', '2', '3', '4', '5'] as const) cmp(`levels.${l}`, kept.levels?.[l], now.levels[l]);
  const byKey = (ds: DeviceHead[] | undefined) => new Map((ds ?? []).map((d) => [`${d.device}/${d.epoch}`, d]));
  const a = byKey(kept.devices);
  const b = byKey(now.devices);
  for (const k of new Set([...a.keys(), ...b.keys()])) cmp(`devices[${k}]`, a.get(k), b.get(k));
  return out;
}
