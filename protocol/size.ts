/**
 * One size contract, end to end. Every message has a byte limit (MAX_BYTES) and it is checked
 * where the message is made, not only where it is received: the hub refuses to open a session
 * whose record could not cross the wire, `encode()` refuses to produce an oversized payload, and
 * the device refuses to prompt for a session it could not rate. Otherwise a citizen could be
 * thanked for a rating the broker will drop on every resend (issue 16).
 *
 * The hub and the device judge a session with the same function (worstCaseRecordBytes), so a
 * session the hub accepted is one the device will rate.
 */
import { ProtocolError } from './errors.js';
import { GENESIS_HASH } from './integrity.js';
import { MAX_BYTES, PROTOCOL_VERSION, RecordFlagSchema, type RatingRecord, type SessionRef } from './schemas.js';
import type { TopicKind } from './topics.js';

/** A message is larger than its topic's limit: it was not (and must not be) sent. */
export class OversizedMessageError extends ProtocolError {
  constructor(
    readonly kind: TopicKind,
    readonly bytes: number,
    readonly limit: number,
    what = `${kind} message`,
  ) {
    super('oversized', `${what} is ${bytes} bytes; the protocol limit for ${kind} messages is ${limit} bytes`);
  }
}

/** The bytes a message occupies on the wire (our payloads are JSON in UTF-8). */
export function wireBytes(message: unknown): number {
  return Buffer.byteLength(JSON.stringify(message));
}

/** The most reasons a record can carry (RatingRecordSchema: reasons max 16). */
export const MAX_REASONS = 16;

/** What a record's size depends on that the device takes from its config and the session. */
export interface RecordContext {
  hall: string;
  device: string;
  window: string;
  /**
   * The staff id the record will carry (the session's). Null is taken as the longest id: the
   * device then names whoever is on duty at the press, who may log in after the session opened.
   */
  staffId: string | null;
  /** The catalogue version the record names. */
  catalogue: string;
  session: SessionRef | null;
}

/**
 * The largest record a device could make in this context: level 1 with the most reasons, every
 * flag, the largest numbers and the longest fixed-size fields. Only the context's strings vary.
 */
export function worstCaseRecord(c: RecordContext): RatingRecord {
  const big = Number.MAX_SAFE_INTEGER;
  return {
    v: PROTOCOL_VERSION,
    id: '01900000-0000-7000-8000-000000000000',
    hall: c.hall,
    device: c.device,
    window: c.window,
    staffId: c.staffId ?? 'S'.repeat(64),
    seq: big,
    kind: 'rating',
    level: 1,
    reasons: Array.from({ length: MAX_REASONS }, (_, i) => String(100 + i)),
    catalogue: c.catalogue,
    session: c.session,
    at: big,
    clockSynced: false,
    bootId: '00000000-0000-4000-8000-000000000000',
    mono: big,
    flags: [...RecordFlagSchema.options],
    prev: GENESIS_HASH,
    sig: 'A'.repeat(86) + '==',
  };
}

export function worstCaseRecordBytes(c: RecordContext): number {
  return wireBytes(worstCaseRecord(c));
}

/**
 * Null if every record made in this context fits MAX_BYTES.rating, else the error to refuse it
 * with (the session is refused before anyone can press).
 */
export function checkRecordFits(c: RecordContext): OversizedMessageError | null {
  const bytes = worstCaseRecordBytes(c);
  if (bytes <= MAX_BYTES.rating) return null;
  return new OversizedMessageError('rating', bytes, MAX_BYTES.rating, 'the largest rating record this session could give');
}
