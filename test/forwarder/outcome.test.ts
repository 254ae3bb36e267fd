import { describe, expect, it } from 'vitest';
import { authHeaders, DEFAULT_HMAC_HEADERS, hmacSignature, verifyAuth, type RequestAuth } from '../../hub/forwarder/auth.js';
import { backoffDelay } from '../../common/backoff.js';
import { classifyError, classifyHttpReply, MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../hub/forwarder/outcome.js';
import { loadProfile } from '../../hub/forwarder/profile.js';

const native = loadProfile('native');
const NOW = Date.UTC(2026, 0, 5, 8, 0, 0);

describe('what a reply from the province means', () => {
  it('2xx with per-record results: answered', () => {
    const o = classifyHttpReply(native, 200, {}, JSON.stringify({ results: [{ id: 'a', status: 'accepted' }] }), NOW);
    expect(o.kind === 'answered' && o.results.get('a')).toEqual({ status: 'accepted' });
  });

  it('2xx that is not the expected shape: retried, never taken as accepted', () => {
    expect(classifyHttpReply(native, 200, {}, '<html>gateway</html>', NOW)).toMatchObject({ kind: 'failed', failure: 'bad-reply' });
    expect(classifyHttpReply(native, 200, {}, '{"ok":true}', NOW)).toMatchObject({ kind: 'failed', failure: 'bad-reply' });
  });

  it('5xx, 408 and 429 are retried, honouring Retry-After', () => {
    expect(classifyHttpReply(native, 500, {}, 'boom', NOW)).toMatchObject({
      kind: 'failed',
      failure: 'server-error',
      retryAfterMs: undefined,
    });
    expect(classifyHttpReply(native, 503, { 'retry-after': '120' }, '', NOW)).toMatchObject({
      kind: 'failed',
      failure: 'server-error',
      retryAfterMs: 120_000,
    });
    expect(classifyHttpReply(native, 429, { 'retry-after': '3' }, '', NOW)).toMatchObject({
      kind: 'failed',
      failure: 'throttled',
      retryAfterMs: 3000,
    });
    expect(classifyHttpReply(native, 408, {}, '', NOW)).toMatchObject({ kind: 'failed', failure: 'timeout' });
  });

  it("wrong credentials are the hub's configuration: retried until fixed, not a rejection of the records", () => {
    expect(classifyHttpReply(native, 401, {}, 'no', NOW)).toMatchObject({ kind: 'failed', failure: 'auth' });
    expect(classifyHttpReply(native, 403, {}, 'no', NOW)).toMatchObject({ kind: 'failed', failure: 'auth' });
  });

  it('400, 413 and 422 refuse the request as a whole (the forwarder splits the batch)', () => {
    for (const s of [400, 413, 422]) expect(classifyHttpReply(native, s, {}, 'bad', NOW)).toMatchObject({ kind: 'refused', status: s });
    expect(classifyHttpReply(native, 404, {}, 'not here', NOW)).toMatchObject({ kind: 'failed', failure: 'unexpected-status' });
  });

  it('Retry-After as seconds or an HTTP date, capped', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7000);
    expect(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30_000);
    expect(parseRetryAfter(new Date(NOW - 30_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter('99999', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', NOW)).toBeNull();
    expect(parseRetryAfter(undefined, NOW)).toBeNull();
  });

  it('network errors by kind', () => {
    expect(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).failure).toBe('connection');
    expect(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).failure).toBe('timeout');
    expect(classifyError(Object.assign(new Error('x'), { name: 'AbortError' })).failure).toBe('aborted');
  });
});

describe('backoff', () => {
  it('doubles per failure up to the ceiling, with half of it random', () => {
    const lo = () => 0;
    const hi = () => 0.999999;
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 500, 60_000, lo))).toEqual([250, 500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 500, 60_000, hi))).toEqual([500, 1000, 2000, 4000, 8000]);
    expect(backoffDelay(40, 500, 60_000, lo)).toBe(30_000);
    expect(backoffDelay(40, 500, 60_000, hi)).toBe(60_000);
  });

  it('spreads hubs that failed together', () => {
    let x = 0;
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(6, 500, 60_000, () => (x = (x + 0.37) % 1))));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe('request authentication', () => {
  const body = '{"records":[{"id":"a"}]}';

  it('bearer token', () => {
    const a: RequestAuth = { kind: 'bearer', token: 's3cret' };
    expect(verifyAuth(a, authHeaders(a, body, NOW), body, NOW)).toBeNull();
    expect(verifyAuth(a, { authorization: 'Bearer wrong' }, body, NOW)).toMatch(/bearer/);
    expect(verifyAuth(a, {}, body, NOW)).toMatch(/bearer/);
  });

  it('HMAC-SHA256 over timestamp and body: a changed body, an old timestamp or another key id fail', () => {
    const a: RequestAuth = { kind: 'hmac', keyId: 'hall-1', secret: 'k3y', headers: DEFAULT_HMAC_HEADERS, encoding: 'hex' };
    const h = authHeaders(a, body, NOW);
    expect(h).toEqual({
      'x-hcp-timestamp': String(NOW),
      'x-hcp-signature': hmacSignature('k3y', String(NOW), body),
      'x-hcp-key-id': 'hall-1',
    });
    expect(h['x-hcp-signature']).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyAuth(a, h, body, NOW + 1000)).toBeNull();
    expect(verifyAuth(a, h, body.replace('"a"', '"b"'), NOW)).toMatch(/does not match/);
    expect(verifyAuth(a, h, body, NOW + 10 * 60_000)).toMatch(/skew/);
    expect(verifyAuth({ ...a, keyId: 'hall-2' }, h, body, NOW)).toMatch(/key id/);
    expect(verifyAuth({ ...a, secret: 'other' }, h, body, NOW)).toMatch(/does not match/);
  });
});
