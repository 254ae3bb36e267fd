/**
 * The citizen's links on a device's screen (docs/citizen-channels.md): the receipt of a 差评
 * ("add reasons or text") and an open session's "rate later". The device signs each link with
 * the receipt key the hub derived for it (HMAC-SHA256, cut to 128 bits); the hub recomputes the
 * MAC, so a guessed or altered link is refused without a database lookup. Links name a record id
 * (UUIDv7: a time and random bits) or the device id — never anything about the citizen.
 */
import { createHmac } from 'node:crypto';

export type ReceiptKind = 'r' | 's';

/** Bytes of MAC in a link: 128 bits cannot be guessed within any rate limit. */
const MAC_BYTES = 16;

/** The MAC of a link: `r` for a record's receipt (id = record id), `s` for a session's rate-later (id = session id). */
export function receiptMac(key: string, kind: ReceiptKind, id: string): string {
  return createHmac('sha256', Buffer.from(key, 'base64url')).update(`${kind}:${id}`).digest().subarray(0, MAC_BYTES).toString('base64url');
}

/** `base` with one more path segment, whatever its trailing slash (a gateway may publish /hcp/citizen or /hcp/citizen/). */
function under(base: string, ...segments: string[]): string {
  const url = new URL(base);
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/\/+$/, '') + '/' + segments.map(encodeURIComponent).join('/');
  return url.toString();
}

/** The receipt link of a record: `{base}/r/{recordId}/{mac}`. */
export function receiptLink(base: string, key: string, recordId: string): string {
  return under(base, 'r', recordId, receiptMac(key, 'r', recordId));
}

/**
 * The rate-later link of a session: `{base}/s/{deviceId}/{mac}`. The session id stays out of the
 * URL (the queue system chooses it and may build it from a case number); the hub finds the session
 * among that device's recent ones by its MAC.
 */
export function rateLaterLink(base: string, key: string, deviceId: string, sessionId: string): string {
  return under(base, 's', deviceId, receiptMac(key, 's', sessionId));
}
