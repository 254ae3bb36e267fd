/**
 * Record integrity: canonical encoding, the per-device hash chain and Ed25519 signatures.
 * A record is signed over the canonical JSON of every field but `sig`; its hash (the next
 * record's `prev`) is taken over the canonical JSON of the whole signed record.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import canonicalizeImport from 'canonicalize';
import { verifyEd25519 } from './ed25519.js';
import { err, ok, ProtocolError, type Result } from './errors.js';
import type { RatingRecord, UnsignedRecord } from './schemas.js';

const canonicalizeFn = canonicalizeImport as unknown as (v: unknown) => string | undefined;

/** RFC 8785 (JCS) canonical JSON: the same value always gives the same bytes. */
export function canonical(value: unknown): string {
  const s = canonicalizeFn(value);
  if (s === undefined) throw new TypeError('value cannot be canonicalised');
  return s;
}

export const GENESIS_HASH = '0'.repeat(64);

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function recordHash(record: RatingRecord): string {
  return sha256Hex(canonical(record));
}

/** What a record's signature is over: the canonical JSON of every field but `sig`. */
export function signingBytes(record: UnsignedRecord | RatingRecord): Buffer {
  const { sig: _sig, ...unsigned } = record as RatingRecord;
  return Buffer.from(canonical(unsigned));
}

export interface DeviceKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateDeviceKeys(): DeviceKeys {
  return generateKeyPairSync('ed25519');
}

/** The form a public key is registered in at enrolment: base64 of the SPKI DER. */
export function exportPublicKey(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
}

export function importPublicKey(spkiBase64: string): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiBase64, 'base64'), format: 'der', type: 'spki' });
}

export function exportPrivateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function importPrivateKeyPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function signRecord(unsigned: UnsignedRecord, privateKey: KeyObject): RatingRecord {
  const sig = sign(null, signingBytes(unsigned), privateKey).toString('base64');
  return { ...unsigned, sig } as RatingRecord;
}

export function verifyRecord(record: RatingRecord, publicKey: KeyObject): Result<RatingRecord> {
  let good = false;
  try {
    good = checkSigned(record, publicKey).signed; // one way to check a signature (and its hash, cheap beside it)
  } catch {
    good = false; // a record that cannot be put in canonical form has no valid signature
  }
  return good ? ok(record) : err(badSignature(record));
}

/** What is said of a record that does not carry its device's signature. */
export function badSignature(record: Pick<RatingRecord, 'id' | 'seq'>): ProtocolError {
  return new ProtocolError('bad-signature', `record ${record.id} (seq ${record.seq}) does not match the device's key`);
}

/**
 * A received record's hash and whether it carries `publicKey`'s signature, from one canonical
 * pass: the signing bytes and the hash's input are the same sorted members, one without `sig`,
 * so each member is put in canonical form once (recordHash and verifyRecord each did all of
 * them: ~13 µs a record here, a tenth of the hub's check; issue 14); verifyRecord is this
 * verdict. For a record as JSON gives it (plain data), the same hash as recordHash and the same
 * signing bytes as signRecord signs (test/protocol/integrity.test.ts);
 * throws, as recordHash does, for a member with no canonical form (NaN, Infinity: never from
 * JSON). Without a key, or for a value that is not an object, the hash alone and `signed` false.
 */
export function checkSigned(record: RatingRecord, publicKey: KeyObject | null | undefined): { hash: string; signed: boolean } {
  if (!publicKey || typeof record !== 'object' || record === null || Array.isArray(record))
    return { hash: recordHash(record), signed: false };
  // As RFC 8785 and the canonicalize package order an object's members: by UTF-16 code units,
  // members whose value is undefined left out.
  const members: string[] = [];
  let sigAt = -1;
  for (const k of Object.keys(record).sort()) {
    const v = (record as unknown as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'symbol') continue;
    if (k === 'sig') sigAt = members.length;
    members.push(`${JSON.stringify(k)}:${canonical(v)}`);
  }
  const whole = `{${members.join(',')}}`;
  const unsigned = sigAt < 0 ? whole : `{${members.filter((_, i) => i !== sigAt).join(',')}}`;
  let signed = false;
  try {
    // A signature is base64 text: anything else (a byte array an edited body could hold) is none.
    signed = typeof record.sig === 'string' && verifyEd25519(Buffer.from(unsigned), Buffer.from(record.sig, 'base64'), publicKey);
  } catch {
    signed = false;
  }
  return { hash: sha256Hex(whole), signed };
}

/** Where a device's chain stands: the last sequence number used and that record's hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

export const EMPTY_CHAIN: ChainHead = { seq: 0, hash: GENESIS_HASH };

/** The seq and prev the next record after `head` must carry. */
export function nextLink(head: ChainHead): { seq: number; prev: string } {
  return { seq: head.seq + 1, prev: head.hash };
}

/** Does `record` follow directly on `head`? */
export function followsOn(head: ChainHead, record: RatingRecord): boolean {
  return record.seq === head.seq + 1 && record.prev === head.hash;
}
