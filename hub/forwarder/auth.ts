/**
 * Request authentication towards the province: a bearer token, or an HMAC-SHA256 signature
 * over the timestamp and the exact body bytes (so a replay after the skew window, or a body
 * altered on the way, is refused). The stand-in province verifies with the same functions.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface HmacHeaders {
  timestamp: string;
  signature: string;
  keyId: string;
}
export const DEFAULT_HMAC_HEADERS: HmacHeaders = { timestamp: 'x-hcp-timestamp', signature: 'x-hcp-signature', keyId: 'x-hcp-key-id' };

export type RequestAuth =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  | { kind: 'hmac'; keyId: string | null; secret: string; headers: HmacHeaders; encoding: 'hex' | 'base64' };

/** What is signed: the timestamp (ms since epoch, decimal), a newline, the body. */
export function hmacSignature(secret: string, timestamp: string, body: string | Uint8Array, encoding: 'hex' | 'base64' = 'hex'): string {
  return createHmac('sha256', secret).update(timestamp).update('\n').update(body).digest(encoding);
}

export function authHeaders(a: RequestAuth, body: string | Uint8Array, now: number): Record<string, string> {
  if (a.kind === 'bearer') return { authorization: `Bearer ${a.token}` };
  if (a.kind === 'hmac') {
    const ts = String(now);
    return {
      [a.headers.timestamp]: ts,
      [a.headers.signature]: hmacSignature(a.secret, ts, body, a.encoding),
      ...(a.keyId ? { [a.headers.keyId]: a.keyId } : {}),
    };
  }
  return {};
}

const safeEqual = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Checks a request as a province would; returns why it is refused, or null. */
export function verifyAuth(
  a: RequestAuth,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  now: number,
  maxSkewMs = 5 * 60_000,
): string | null {
  const h = (name: string) => {
    const v = headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  if (a.kind === 'none') return null;
  if (a.kind === 'bearer') return safeEqual(h('authorization') ?? '', `Bearer ${a.token}`) ? null : 'missing or wrong bearer token';
  const ts = h(a.headers.timestamp);
  const sig = h(a.headers.signature);
  if (!ts || !sig) return `missing ${a.headers.timestamp} or ${a.headers.signature}`;
  if (!/^\d+$/.test(ts) || Math.abs(now - Number(ts)) > maxSkewMs) return 'timestamp outside the allowed clock skew';
  if (a.keyId && h(a.headers.keyId) !== a.keyId) return 'unknown key id';
  return safeEqual(sig, hmacSignature(a.secret, ts, body, a.encoding)) ? null : 'signature does not match the body';
}
