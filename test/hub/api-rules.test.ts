/**
 * The token API's rules, checked route by route from the hub's own OpenAPI document against
 * a real hub (real SQLite file, real HTTP): the document lists every response a route gives,
 * 4xx included, and it matches what the routes do — 401 before any body is read, unknown
 * query parameters refused, 405 with Allow for a wrong method; /metrics behind a token and
 * health reduced to up/down; feedbackUrl only http(s); display strings without control or
 * bidi-control characters (issue 16, item 6).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../hub/hub.js';
import { silentLog } from '../helpers/log.js';

let hub: Hub;
let dir: string;
let url: string;
let admin: string;
let viewer: string;
let queue: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-api-rules-'));
  hub = await startHub(
    { dataDir: join(dir, 'hub'), hall: 'rules-hall', mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
    silentLog(),
  );
  url = `http://127.0.0.1:${hub.ports.http}`;
  admin = hub.adminToken!;
  viewer = hub.tokens.create('dashboard', 'viewer');
  queue = hub.tokens.create('queue system', 'queue-system');
  hub.registry.add({ window: '01', id: 'ev-001' });
});
afterAll(async () => {
  await hub?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (method: string, path: string, o: { token?: string; body?: string; type?: string } = {}) =>
  fetch(`${url}${path}`, {
    method,
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.body !== undefined ? { 'content-type': o.type ?? 'application/json' } : {}),
    },
    ...(o.body !== undefined ? { body: o.body } : {}),
  });
const json = (method: string, path: string, body: unknown, token = admin) => call(method, path, { token, body: JSON.stringify(body) });

interface Operation {
  security?: unknown[];
  responses: Record<
    string,
    {
      description: string;
      content?: Record<string, { schema: { type?: string; required?: string[]; properties?: Record<string, unknown> } }>;
    }
  >;
}
type Doc = { paths: Record<string, Record<string, Operation>> };
async function doc(): Promise<Doc> {
  const r = await fetch(`${url}/api/openapi.json`);
  expect(r.status).toBe(200);
  return (await r.json()) as Doc;
}
/** Every documented operation, with its path made concrete (`{id}` → a plausible value). */
async function operations(): Promise<{ method: string; path: string; concrete: string; op: Operation }[]> {
  const d = await doc();
  return Object.entries(d.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      concrete: path.replace(/\{[^}]+\}/g, (p) => (p === '{n}' ? '1' : 'x1')),
      op,
    })),
  );
}
const secured = (op: Operation) => op.security === undefined || op.security.length > 0;
const documented = (op: Operation, status: number) => Object.keys(op.responses).includes(String(status));

describe('/metrics and /api/health', () => {
  it('/metrics needs an API token with the viewer or admin role', async () => {
    expect((await call('GET', '/metrics')).status).toBe(401);
    expect((await call('GET', '/metrics', { token: 'not-a-token' })).status).toBe(401);
    expect((await call('GET', '/metrics', { token: queue })).status).toBe(403);
    for (const t of [viewer, admin]) {
      const r = await call('GET', '/metrics', { token: t });
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('hcp_devices_connected');
    }
  });

  it('health says only up to a caller without a token; the hall id only with one', async () => {
    const anon = await call('GET', '/api/health');
    expect(anon.status).toBe(200);
    expect(await anon.json()).toEqual({ status: 'up' });
    const withToken = await call('GET', '/api/health', { token: viewer });
    expect(await withToken.json()).toEqual({ status: 'up', hall: 'rules-hall' });
  });
});

describe('every route of the token API, from the OpenAPI document', () => {
  it('documents each response with the error schema for 4xx, and security as enforced', async () => {
    const ops = await operations();
    expect(ops.length).toBeGreaterThan(25);
    for (const { method, path, op } of ops) {
      const codes = Object.keys(op.responses).map(Number);
      expect(
        codes.some((c) => c >= 200 && c < 300),
        `${method} ${path} has a success response`,
      ).toBe(true);
      expect(codes, `${method} ${path}`).toContain(400);
      if (secured(op)) expect(codes, `${method} ${path}`).toContain(401);
      for (const c of codes.filter((c) => c >= 400)) {
        const schema = op.responses[String(c)]!.content?.['application/json']?.schema;
        expect(schema?.required, `${method} ${path} ${c}`).toEqual(['error', 'message']);
      }
    }
    const d = await doc();
    expect(secured(d.paths['/metrics']!.get!)).toBe(true);
    expect(d.paths['/metrics']!.get!.responses).toHaveProperty('403');
    expect(d.paths['/api/health']!.get!.security).toEqual([]);
    expect(d.paths['/api/enrol']!.post!.security).toEqual([]);
    expect(d.paths['/api/devices']!.post!.responses).toHaveProperty('409');
    expect(d.paths['/api/devices']!.post!.responses).toHaveProperty('201');
    expect(d.paths['/api/devices/{id}']!.get!.responses).toHaveProperty('404');
  });

  it('answers 401 without a token before it reads a malformed body or the query, on every protected route', async () => {
    for (const { method, path, concrete, op } of await operations()) {
      if (!secured(op)) continue;
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(method);
      for (const r of [
        await call(method, `${concrete}?bogus=1`, hasBody ? { body: '{"window": ' } : {}),
        await call(method, concrete, hasBody ? { body: 'x'.repeat(300 * 1024), type: 'text/plain' } : { token: 'wrong' }),
      ]) {
        expect(r.status, `${method} ${path}`).toBe(401);
        expect(await r.json()).toMatchObject({ error: 'unauthorized' });
        expect(documented(op, 401)).toBe(true);
      }
    }
  });

  it('refuses unknown query parameters with 400 on every route, before doing anything', async () => {
    const before = hub.registry.list().map((d) => ({ ...d }));
    for (const { method, path, concrete, op } of await operations()) {
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(method);
      const r = await call(method, `${concrete}?limt=5`, { token: admin, ...(hasBody ? { body: '{}' } : {}) });
      expect(r.status, `${method} ${path}`).toBe(400);
      const body = (await r.json()) as { error: string; message: string };
      expect(body.message, `${method} ${path}`).toMatch(/limt|Unrecognized|unknown/);
      expect(documented(op, 400)).toBe(true);
    }
    // Nothing was revoked, re-enrolled or changed by those requests.
    expect(hub.registry.list()).toEqual(before);
    // Known parameters still work.
    expect((await call('GET', '/api/alarms?open=1&limit=5', { token: admin })).status).toBe(200);
    expect((await call('GET', '/api/forwarding/rejected?limit=5', { token: admin })).status).toBe(200);
    expect((await call('GET', '/api/forwarding/rejected?before=yesterday', { token: admin })).status).toBe(400);
  });

  it('answers a wrong method with 405 and the methods the path has in Allow; an unknown path with 404', async () => {
    const d = await doc();
    for (const [path, ops] of Object.entries(d.paths)) {
      const have = Object.keys(ops).map((m) => m.toUpperCase());
      const wrong = ['DELETE', 'PUT', 'PATCH', 'POST', 'GET'].find((m) => !have.includes(m))!;
      const r = await call(wrong, path.replace(/\{[^}]+\}/g, 'x1'), { token: admin });
      expect(r.status, `${wrong} ${path}`).toBe(405);
      const allow = r.headers.get('allow')!.split(', ');
      for (const m of have) expect(allow, `${wrong} ${path}`).toContain(m);
      expect(allow).not.toContain(wrong);
      expect(await r.json()).toMatchObject({ error: 'method-not-allowed' });
    }
    const none = await call('GET', '/api/no-such-thing', { token: admin });
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: 'not-found' });
  });
});

describe('what the API accepts', () => {
  it('feedbackUrl only as an http(s) URL, for the hall and for one device', async () => {
    for (const bad of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:x',
      'file:///etc/passwd',
      'ftp://hall.example/f',
    ]) {
      const hall = await json('PUT', '/api/hall/settings', { feedbackUrl: bad });
      expect(hall.status, bad).toBe(400);
      expect(((await hall.json()) as { message: string }).message).toMatch(/http/);
      expect((await json('PATCH', '/api/devices/ev-001', { settings: { feedbackUrl: bad } })).status, bad).toBe(400);
    }
    expect((await json('PUT', '/api/hall/settings', { feedbackUrl: 'https://hall.example.gov.cn/feedback' })).status).toBe(200);
    expect((await json('PATCH', '/api/devices/ev-001', { settings: { feedbackUrl: 'http://10.0.0.5/f' } })).status).toBe(200);
    expect(hub.registry.config(hub.registry.get('ev-001')!).feedbackUrl).toBe('http://10.0.0.5/f');
  });

  it('refuses window names, staff names and item names with control or bidi-control characters', async () => {
    const refused = async (r: Promise<Response>, what: string) => {
      const res = await r;
      expect(res.status, what).toBe(400);
      expect(((await res.json()) as { message: string }).message, what).toMatch(/control/);
    };
    // "2‮1" displays as "12"; the isolates and marks reorder too; NUL and newlines break displays.
    for (const bad of ['2\u202e1', '\u20661\u2069', '1\u200f2', 'A\u0000', '0\n1', '\u202d12']) {
      const w = JSON.stringify(bad);
      await refused(json('POST', '/api/devices', { window: bad }), `window ${w}`);
      await refused(json('POST', '/api/devices', { window: '02', name: bad }), `device name ${w}`);
      await refused(json('PATCH', '/api/devices/ev-001', { settings: { windowName: bad } }), `windowName ${w}`);
      await refused(json('PUT', '/api/windows/01/staff', { id: 'S1', name: bad }, queue), `staff name ${w}`);
      await refused(json('PUT', '/api/windows/01/staff', { id: 'S1', name: '张三', number: bad }, queue), `staff number ${w}`);
      await refused(json('POST', '/api/sessions', { window: '01', cases: ['BJ1'], itemName: bad }, queue), `item name ${w}`);
      await refused(json('POST', '/api/sessions', { window: '01', cases: [bad] }, queue), `case ${w}`);
      await refused(json('PUT', '/api/hall/settings', { prompts: { ask: bad } }), `prompt ${w}`);
    }
    expect(hub.registry.list().map((d) => d.window)).toEqual(['01']);
    // Chinese, Latin and right-to-left (Uyghur) names need none of them.
    expect((await json('PATCH', '/api/devices/ev-001', { settings: { windowName: '不动产登记 12号窗口' } })).status).toBe(200);
    expect(
      (await json('PATCH', '/api/devices/ev-001', { settings: { staff: { id: 'S1', name: 'ئابدۇرېھىم', number: '0012', photo: null } } }))
        .status,
    ).toBe(200);
    expect(hub.registry.config(hub.registry.get('ev-001')!)).toMatchObject({
      windowName: '不动产登记 12号窗口',
      staff: { name: 'ئابدۇرېھىم' },
    });
  });
});
