/**
 * What one push to the province came to, decided from status, headers and body alone (pure):
 * answered per record, failed as a whole (retry later), or refused as a whole (the request
 * itself is unacceptable: split the batch, and reject a single record for good).
 */
import { parseReply, type ItemResult } from './mapping.js';
import type { Profile } from './profile.js';

export type FailureKind = 'connection' | 'timeout' | 'server-error' | 'throttled' | 'auth' | 'bad-reply' | 'unexpected-status' | 'aborted';

export type SendOutcome =
  | { kind: 'answered'; results: Map<string, ItemResult> }
  | { kind: 'failed'; failure: FailureKind; message: string; retryAfterMs?: number }
  | { kind: 'refused'; status: number; message: string };

/** Longest Retry-After we honour; a province asking for more is asked again after this. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Retry-After as delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Math.min(Number(t) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(t);
  if (Number.isNaN(at)) return null;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

const excerpt = (s: string) => s.replace(/\s+/g, ' ').slice(0, 300);

export function classifyHttpReply(
  p: Profile,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
  now: number,
): SendOutcome {
  if (status >= 200 && status < 300) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return {
        kind: 'failed',
        failure: 'bad-reply',
        message: `province answered ${status} with a body that is not JSON: ${excerpt(text)}`,
      };
    }
    const r = parseReply(p, json);
    return r.ok
      ? { kind: 'answered', results: r.results }
      : { kind: 'failed', failure: 'bad-reply', message: `province answered ${status} but ${r.error}` };
  }
  const retryAfterMs = parseRetryAfter(headers['retry-after'], now) ?? undefined;
  const msg = `province answered ${status}: ${excerpt(text)}`;
  if (status === 429) return { kind: 'failed', failure: 'throttled', message: msg, retryAfterMs };
  if (status >= 500 || status === 408)
    return { kind: 'failed', failure: status === 408 ? 'timeout' : 'server-error', message: msg, retryAfterMs };
  // Wrong credentials are the hub's configuration, not the record: keep trying until fixed.
  if (status === 401 || status === 403) return { kind: 'failed', failure: 'auth', message: msg };
  // The request itself is unacceptable: one bad record (or too many) spoils a batch.
  if (status === 400 || status === 413 || status === 422) return { kind: 'refused', status, message: msg };
  return { kind: 'failed', failure: 'unexpected-status', message: msg, retryAfterMs };
}

/** A thrown network error (undici, mqtt) as a failure kind. */
export function classifyError(e: unknown): { failure: FailureKind; message: string } {
  const err = e as { name?: string; code?: string; message?: string };
  const message = err?.message ?? String(e);
  if (
    err?.name === 'TimeoutError' ||
    err?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    err?.code === 'UND_ERR_BODY_TIMEOUT' ||
    err?.code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return { failure: 'timeout', message: `no answer in time (${err.code ?? err.name}): ${message}` };
  }
  if (err?.name === 'AbortError' || err?.code === 'UND_ERR_ABORTED') return { failure: 'aborted', message: `push aborted: ${message}` };
  return { failure: 'connection', message: `${err?.code ?? err?.name ?? 'error'}: ${message}` };
}
