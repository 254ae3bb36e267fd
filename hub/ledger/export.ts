/**
 * A day's records with the day's signed checkpoint, as one JSON file (`hub export-day`), and
 * the check anyone can run on it with nothing but the file and the hub's public key
 * (`verify-export`): the checkpoint's signature, every record's device signature (keys are in
 * the signed checkpoint), hashes, chain links, the counts per level and the Merkle root. An
 * edit made after the checkpoint — to the database before exporting, or to the file — fails.
 */
import type { KeyObject } from 'node:crypto';
import { checkSigned, GENESIS_HASH, importPublicKey, type RatingRecord } from '../../protocol/index.js';
import { dayFromNumber } from '../calendar/working-days.js';
import type { Db } from '../store/db.js';
import { dayBounds, type CheckpointMessage } from './checkpoints.js';
import { checkpointSignatureOk, digestDifferences, digestOf, type DayDigest } from './digest.js';
import type { Finding } from './verify.js';

export const EXPORT_FORMAT = 'haochaping-day-export/1';

export interface ExportedRecord {
  id: string;
  device: string;
  epoch: number;
  seq: number;
  kind: string;
  level: number | null;
  receivedAt: number;
  hash: string;
  record: RatingRecord;
}

export interface DayExport {
  format: typeof EXPORT_FORMAT;
  hall: string;
  day: string;
  checkpoint: CheckpointMessage;
  records: ExportedRecord[];
}

export class ExportError extends Error {
  override readonly name = 'ExportError';
}

/** The day's records as stored now, with the checkpoint made for that day. */
export function exportDay(db: Db, day: number, hubPublicKey: string): DayExport {
  const c = db.prepare<[number], { body: string; sig: string }>('SELECT body, sig FROM ledger_checkpoints WHERE day = ?').get(day);
  if (!c)
    throw new ExportError(
      `no checkpoint for ${dayFromNumber(day)} yet: a day is signed after it ends (the hub makes it shortly after midnight China time)`,
    );
  const digest = JSON.parse(c.body) as DayDigest;
  const { from, to } = dayBounds(day);
  const rows = db
    .prepare<
      [number, number],
      {
        id: string;
        device: string;
        epoch: number;
        seq: number;
        kind: string;
        level: number | null;
        received_at: number;
        hash: string;
        body: string;
      }
    >(
      'SELECT id, device, epoch, seq, kind, level, received_at, hash, body FROM ratings WHERE received_at >= ? AND received_at < ? ORDER BY id',
    )
    .all(from, to);
  return {
    format: EXPORT_FORMAT,
    hall: digest.hall,
    day: dayFromNumber(day),
    checkpoint: { kind: 'checkpoint', hall: digest.hall, day: dayFromNumber(day), body: c.body, sig: c.sig, publicKey: hubPublicKey },
    records: rows.map((r) => ({
      id: r.id,
      device: r.device,
      epoch: r.epoch,
      seq: r.seq,
      kind: r.kind,
      level: r.level,
      receivedAt: r.received_at,
      hash: r.hash,
      record: JSON.parse(r.body) as RatingRecord,
    })),
  };
}

export interface ExportCheck {
  ok: boolean;
  findings: Finding[];
  /** Whether the checkpoint was checked against a key given by the verifier (not the one in the file). */
  keyPinned: boolean;
  records: number;
}

/**
 * Checks an export against its checkpoint. `hubKey`: the hub's public key as the verifier
 * knows it (pinned); without it the key in the file is used, which proves only that the file
 * agrees with itself.
 */
export function verifyExport(x: DayExport, hubKey?: KeyObject): ExportCheck {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  if (x?.format !== EXPORT_FORMAT || !x.checkpoint || !Array.isArray(x.records)) {
    return {
      ok: false,
      findings: [{ table: 'export', key: 'format', problem: `not a ${EXPORT_FORMAT} file` }],
      keyPinned: !!hubKey,
      records: 0,
    };
  }
  let key = hubKey;
  if (!key) {
    try {
      key = importPublicKey(x.checkpoint.publicKey);
    } catch {
      add({ table: 'checkpoint', key: 'publicKey', problem: 'the file carries no valid hub key, and none was given' });
    }
  }
  if (key && !checkpointSignatureOk(x.checkpoint, key))
    add({ table: 'checkpoint', key: x.day, problem: "checkpoint is not signed by the hub's key (edited or replaced)" });
  let kept: DayDigest;
  try {
    kept = JSON.parse(x.checkpoint.body) as DayDigest;
  } catch {
    add({ table: 'checkpoint', key: x.day, problem: 'checkpoint body is not JSON' });
    return { ok: false, findings, keyPinned: !!hubKey, records: x.records.length };
  }
  if (kept.day !== x.day)
    add({ table: 'checkpoint', key: 'day', problem: 'the checkpoint is for another day', stored: kept.day, expected: x.day });

  const keys = new Map<string, KeyObject | null>();
  for (const d of kept.devices ?? []) {
    let k: KeyObject | null = null;
    try {
      k = d.key ? importPublicKey(d.key) : null;
    } catch {
      k = null;
    }
    keys.set(`${d.device}/${d.epoch}`, k);
  }

  // Each record: its hash and signature are recomputed from the record itself, never taken from the file.
  const rows = x.records.map((r) => {
    const at = `${r.id} (${r.device}/${r.epoch} seq ${r.seq})`;
    const k = keys.get(`${r.device}/${r.epoch}`);
    const { hash: h, signed: carriesSig } = checkSigned(r.record, k);
    if (h !== r.hash) add({ table: 'records', key: at, problem: 'hash is not the hash of the record', stored: r.hash, expected: h });
    if (!k) add({ table: 'records', key: at, problem: 'no key for this device in the checkpoint: the signature cannot be checked' });
    else if (!carriesSig)
      add({ table: 'records', key: at, problem: "record does not carry its device's signature (edited after it was signed)" });
    for (const [field, listed, signed] of [
      ['id', r.id, r.record.id],
      ['device', r.device, r.record.device],
      ['seq', r.seq, r.record.seq],
      ['kind', r.kind, r.record.kind],
      ['level', r.level, r.record.level ?? null],
    ] as const) {
      if (listed !== signed)
        add({
          table: 'records',
          key: `${at} ${field}`,
          problem: `${field} differs from the signed record`,
          stored: String(listed),
          expected: String(signed),
        });
    }
    if (r.receivedAt < kept.from || r.receivedAt >= kept.to)
      add({ table: 'records', key: at, problem: "received outside the checkpoint's day" });
    return {
      id: r.record.id,
      hash: h,
      device: r.record.device,
      epoch: r.epoch,
      seq: r.record.seq,
      kind: r.record.kind,
      level: r.record.level ?? null,
    };
  });

  // Links between consecutive records of a device within the day.
  const byChain = new Map<string, typeof rows>();
  for (const r of rows) {
    const k = `${r.device}/${r.epoch}`;
    const list = byChain.get(k) ?? [];
    list.push(r);
    byChain.set(k, list);
  }
  const recordOf = new Map(x.records.map((e) => [e.record.id, e.record]));
  for (const [k, list] of byChain) {
    list.sort((a, b) => a.seq - b.seq);
    for (let i = 0; i < list.length; i++) {
      const r = recordOf.get(list[i]!.id)!;
      if (list[i]!.seq === 1 && r.prev !== GENESIS_HASH)
        add({ table: 'records', key: `${k} seq 1`, problem: 'first record does not start from the genesis hash' });
      if (i > 0 && list[i]!.seq === list[i - 1]!.seq + 1 && r.prev !== list[i - 1]!.hash)
        add({
          table: 'records',
          key: `${k} seq ${list[i]!.seq}`,
          problem: 'prev does not name the record before it',
          stored: r.prev,
          expected: list[i - 1]!.hash,
        });
    }
  }

  // Counts, heads and the Merkle root, computed from the records exactly as the hub did.
  const now = digestOf({
    hall: kept.hall,
    day: kept.day,
    from: kept.from,
    to: kept.to,
    rows,
    keyOf: (d, e) => kept.devices?.find((h) => h.device === d && h.epoch === e)?.key ?? null,
    prevCheckpoint: kept.prevCheckpoint,
  });
  for (const [field, a, b] of digestDifferences(kept, now))
    add({
      table: 'checkpoint',
      key: `${x.day} ${field}`,
      problem: 'the records differ from what the checkpoint signed',
      stored: b,
      expected: a,
    });
  return { ok: findings.length === 0, findings, keyPinned: !!hubKey, records: x.records.length };
}
