/**
 * The checks a rating message passes before it may be stored, as one pure function: decode,
 * topic and hall, the device's key, the signature, and the record's hash (the next record's
 * `prev`). Pure so that it runs the same on ingest's own thread and on the verification
 * workers (verify-pool.ts): the chain, the store and everything stateful stay in ingest.
 */
import type { KeyObject } from 'node:crypto';
import { badSignature, checkSigned, decode, type RatingRecord, type TopicAddress } from '../../protocol/index.js';

export type RejectReason =
  | 'oversized'
  | 'malformed'
  | 'unknown-version'
  | 'invalid'
  | 'bad-signature'
  | 'topic-mismatch'
  | 'unknown-device'
  | 'wrong-topic'
  | 'duplicate'
  | 'id-conflict'
  | 'seq-reused'
  | 'chain-broken'
  // Refused by the broker's policy before ingest saw the payload:
  | 'rate-limited'
  | 'retained';

export type Checked =
  | { ok: true; record: RatingRecord; hash: string }
  | { ok: false; reason: RejectReason; device: string | null; detail: string; record?: RatingRecord };

export interface CheckInput {
  /** The rating topic the message came on (already parsed: its kind is `rating`). */
  addr: TopicAddress;
  topic: string;
  clientId: string | null;
  payload: Uint8Array | string;
  /** The hall this hub serves. */
  hall: string;
  /** The key the topic's device signs with now; undefined when it is not enrolled or revoked. */
  key: KeyObject | undefined;
}

export function checkRating(i: CheckInput): Checked {
  const d = decode('rating', i.payload);
  if (!d.ok) return { ok: false, reason: d.error.code, device: i.addr.device, detail: d.error.message };
  const r = d.value;
  if (r.hall !== i.addr.hall || r.device !== i.addr.device || (i.clientId !== null && i.clientId !== i.addr.device)) {
    const detail = `record for ${r.hall}/${r.device} came on ${i.topic} from client ${i.clientId}`;
    return { ok: false, reason: 'topic-mismatch', device: i.addr.device, detail, record: r };
  }
  if (r.hall !== i.hall)
    return {
      ok: false,
      reason: 'unknown-device',
      device: r.device,
      detail: `record is for hall ${r.hall}, this hub is ${i.hall}`,
      record: r,
    };
  if (!i.key)
    return {
      ok: false,
      reason: 'unknown-device',
      device: r.device,
      detail: `device ${r.device} is not enrolled here or is revoked`,
      record: r,
    };
  // The signature and the record's hash (the next record's prev) from one canonical pass; a
  // record that cannot be put in canonical form has no valid signature.
  let c: ReturnType<typeof checkSigned> | undefined;
  try {
    c = checkSigned(r, i.key);
  } catch {
    // c stays undefined: refused below
  }
  if (!c?.signed) return { ok: false, reason: 'bad-signature', device: r.device, detail: badSignature(r).message, record: r };
  return { ok: true, record: r, hash: c.hash };
}
