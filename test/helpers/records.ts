import {
  generateDeviceKeys,
  GENESIS_HASH,
  newRecordId,
  recordHash,
  signRecord,
  type DeviceKeys,
  type RatingRecord,
  type UnsignedRecord,
} from '../../protocol/index.js';
import { createPublicKey, type KeyObject } from 'node:crypto';

/** An Ed25519 public key from its 32 raw bytes, whatever point they encode (no check). */
export function rawEd25519Key(raw: Buffer): KeyObject {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]); // SPKI header of an Ed25519 key
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

/**
 * The identity point as an Ed25519 public key (`raw`: its 32 bytes), a key of small order:
 * OpenSSL accepts R = identity, S = 0 (`raw` followed by 32 zero bytes) under it for any message.
 */
export function identityPointKey(): { key: KeyObject; raw: Buffer } {
  const raw = Buffer.alloc(32);
  raw[0] = 1;
  return { key: rawEd25519Key(raw), raw };
}

/** A valid signed record for protocol-level tests; override any field. */
export function makeRecord(keys: DeviceKeys, over: Partial<UnsignedRecord> = {}): RatingRecord {
  const unsigned: UnsignedRecord = {
    v: 1,
    id: newRecordId(),
    hall: 'hall-1',
    device: 'ev-001',
    window: '12',
    staffId: 'S042',
    seq: 1,
    kind: 'rating',
    level: 2,
    reasons: ['213', '214'],
    catalogue: 'builtin-2026.1',
    session: { id: 'sess-1', cases: ['BJ2026112500001', 'BJ2026112500002'], itemCode: '11420000MB1234567X', itemName: '不动产登记' },
    at: 1_764_000_000_000,
    clockSynced: true,
    bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
    mono: 123_456,
    flags: [],
    prev: GENESIS_HASH,
    ...over,
  };
  return signRecord(unsigned, keys.privateKey);
}

/** A chain of `n` records, each linked to the one before. */
export function makeChain(keys: DeviceKeys, n: number, over: Partial<UnsignedRecord> = {}): RatingRecord[] {
  const out: RatingRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const r = makeRecord(keys, { ...over, seq, prev });
    out.push(r);
    prev = recordHash(r);
  }
  return out;
}

export { generateDeviceKeys };
