/**
 * The hall page's HTTP side against bad input and cross-site tricks (issue 16, item 6): an
 * impossible date is a 400 naming the parameter, `next=` after log-in never leaves the hub,
 * log-out needs the CSRF token, a caller without a session gets 401 before any body is read,
 * and display names refuse control and bidi-control characters. Real SQLite file, real
 * Fastify (inject), the page's own routes.
 */
import { closeWebEnv, type WebEnvBase } from '../helpers/web-env.js';
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubEvents } from '../../hub/events.js';
import { createMetrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb } from '../../hub/store/db.js';
import { HallWeb } from '../../hub/web/hall-web.js';
import { FactSync } from '../../hub/facts/fact-sync.js';
import { safeNext, webRoutes } from '../../hub/web/routes.js';
import { silentLog } from '../helpers/log.js';

type Env = WebEnvBase;
let env: Env | null = null;
afterEach(async () => {
  if (env) await closeWebEnv(env);
  env = null;
});

async function setup(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-web-input-'));
  const db = openHubDb(join(dir, 'hub.db'));
  const now = () => Date.parse('2026-10-08T09:00:00+08:00');
  const log = silentLog();
  const registry = new Registry(db, 'input-hall', now);
  registry.add({ window: '01', id: 'ev-001' });
  const events = new EventEmitter<HubEvents>();
  const metrics = createMetrics();
  const web = HallWeb.open({
    db,
    registry,
    status: new DeviceStatusStore(db, log, () => {}, now),
    events,
    log,
    metrics,
    config: { policy: 'ankang' },
    dataDir: dir,
    now,
  });
  const sync = new FactSync({ records: web.records, events, log: log, metrics });

  await web.users.add('test', { name: 'admin1', role: 'admin', password: 'admin-password-1' });
  const app = Fastify();
  await app.register(webRoutes, web);
  await app.ready();
  env = { dir, db, web, sync, app };
  return env;
}

interface Session {
  cookie: string;
  csrf: string;
}
async function login(e: Env): Promise<Session> {
  const r = await e.app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'admin1', password: 'admin-password-1' } });
  expect(r.statusCode, r.body).toBe(200);
  return { cookie: String(r.headers['set-cookie']).split(';')[0]!, csrf: r.json().csrf };
}

describe('statistics dates', () => {
  it('an impossible date on any statistics route is a 400 that names the parameter, never a 500', async () => {
    const e = await setup();
    const s = await login(e);
    const bad = [
      'to=2026-99-01',
      'from=2026-02-30&to=2026-03-01',
      'from=2026-13-01&to=2026-12-31',
      'from=2026-01-01&to=2026-04-31',
      'from=0000-00-00&to=2026-01-01',
      'from=2026-1-1&to=2026-01-02',
      'from=2026-01-01&to=2026-01-01T00:00',
      'from=9999-12-31&to=9999-12-31',
      'from=0000-01-01&to=0000-01-02',
    ];
    for (const q of bad) {
      for (const path of ['/api/hall/stats', '/stats', '/stats.csv']) {
        const r = await e.app.inject({ method: 'GET', url: `${path}?${q}`, headers: { cookie: s.cookie } });
        expect(r.statusCode, `${path}?${q}: ${r.body}`).toBe(400);
        expect(r.json()).toMatchObject({ error: 'invalid-request' });
        expect(r.json().message).toMatch(/from|to/);
        expect(r.body).not.toMatch(/RangeError|at .*\.ts:/);
      }
    }
    // A real leap day and a plain range still work.
    expect(
      (await e.app.inject({ method: 'GET', url: '/api/hall/stats?from=2024-02-29&to=2024-03-01', headers: { cookie: s.cookie } }))
        .statusCode,
    ).toBe(200);
    expect(
      (await e.app.inject({ method: 'GET', url: '/stats.csv?from=2026-10-01&to=2026-10-08&table=trend', headers: { cookie: s.cookie } }))
        .statusCode,
    ).toBe(200);
  });
});

describe('log-in and log-out', () => {
  const offSite = [
    '/\\evil.example/',
    '//evil.example/',
    'https://evil.example/',
    'http:evil.example',
    '/\t/evil.example/',
    '/\n/evil.example',
    ' //evil.example',
    '\\\\evil.example',
    '/%2F/evil.example'.replace('%2F', '/'), // what the form decoder makes of %2F
    'javascript:alert(1)',
    '//evil.example@hub/',
    '',
  ];

  it('safeNext keeps only paths on this hub', () => {
    for (const n of offSite) expect(safeNext(n), JSON.stringify(n)).toBe('/wall');
    expect(safeNext('/workorders/12?state=all#top')).toBe('/workorders/12?state=all#top');
    expect(safeNext('/stats?from=2026-10-01')).toBe('/stats?from=2026-10-01');
    // Encoded slashes stay encoded: a path on this hub, not a host.
    expect(safeNext('/%2F%2Fevil.example/')).toBe('/%2F%2Fevil.example/');
    expect(safeNext('/%5Cevil.example/')).toBe('/%5Cevil.example/');
    expect(safeNext(undefined)).toBe('/wall');
  });

  it('after log-in, next= (plain or percent-encoded) never redirects off-site', async () => {
    const e = await setup();
    const encoded = [
      '%2F%5Cevil.example%2F',
      '%2F%2Fevil.example',
      'https%3A%2F%2Fevil.example',
      '%2F%09%2Fevil.example',
      '%5C%5Cevil.example',
    ];
    // Each is a real log-in (scrypt): a few plain ones here, every variant in the safeNext test above.
    const plain = ['/\\evil.example/', '//evil.example/', 'https://evil.example/', '/\t/evil.example/'];
    const bodies = [
      ...plain.map((n) => `name=admin1&password=admin-password-1&next=${encodeURIComponent(n)}`),
      ...encoded.map((n) => `name=admin1&password=admin-password-1&next=${n}`),
    ];
    for (const payload of bodies) {
      const r = await e.app.inject({
        method: 'POST',
        url: '/login',
        payload,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(r.statusCode, payload).toBe(303);
      expect(r.headers.location, payload).toBe('/wall');
    }
    const ok = await e.app.inject({
      method: 'POST',
      url: '/login',
      payload: 'name=admin1&password=admin-password-1&next=%2Fworkorders%3Fstate%3Dall',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(ok.headers.location).toBe('/workorders?state=all');
    // The log-in page puts only a safe value into its hidden field.
    const page = await e.app.inject({ method: 'GET', url: '/login?next=%2F%5Cevil.example%2F' });
    expect(page.body).toContain('name="next" value="/wall"');
  });

  it('log-out needs the CSRF token like every other state change', async () => {
    const e = await setup();
    const s = await login(e);
    const form = (body: string) =>
      e.app.inject({
        method: 'POST',
        url: '/logout',
        payload: body,
        headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      });
    const forged = await form('');
    expect(forged.statusCode).toBe(403);
    expect((await form('_csrf=not-the-token')).statusCode).toBe(403);
    expect((await e.app.inject({ method: 'GET', url: '/api/hall/me', headers: { cookie: s.cookie } })).statusCode).toBe(200); // still logged in
    expect(e.web.audit.recent().some((r) => r.action === 'logout')).toBe(false);
    // The JSON log-out too.
    expect((await e.app.inject({ method: 'POST', url: '/api/hall/logout', headers: { cookie: s.cookie } })).statusCode).toBe(403);

    const real = await form(`_csrf=${encodeURIComponent(s.csrf)}`);
    expect(real.statusCode).toBe(303);
    expect(real.headers.location).toBe('/login');
    expect((await e.app.inject({ method: 'GET', url: '/api/hall/me', headers: { cookie: s.cookie } })).statusCode).toBe(401);
    // Without a session there is nothing to protect: the cookie is cleared, off to log-in.
    const none = await e.app.inject({ method: 'POST', url: '/logout' });
    expect(none.statusCode).toBe(303);
  });
});

describe('the JSON API', () => {
  it('answers 401 to a caller without a session before it looks at a malformed body', async () => {
    const e = await setup();
    const routes: [string, string][] = [
      ['POST', '/api/hall/workorders/1/actions'],
      ['POST', '/api/hall/alerts/1/ack'],
      ['POST', '/api/hall/users'],
      ['POST', '/api/hall/logout'],
    ];
    for (const [method, url] of routes) {
      for (const [type, payload] of [
        ['application/json', '{"type": '],
        ['application/json', '[1,2'],
        ['text/plain', 'x'],
      ] as const) {
        const r = await e.app.inject({ method, url, payload, headers: { 'content-type': type } });
        expect(r.statusCode, `${method} ${url} ${type}`).toBe(401);
        expect(r.json()).toMatchObject({ error: 'unauthorized' });
      }
    }
    // With a session, the same malformed body is a 400.
    const s = await login(e);
    const r = await e.app.inject({
      method: 'POST',
      url: '/api/hall/workorders/1/actions',
      payload: '{"type": ',
      headers: { 'content-type': 'application/json', cookie: s.cookie, 'x-csrf-token': s.csrf },
    });
    expect(r.statusCode).toBe(400);
  });

  it('refuses staff display names with control or bidi-control characters', async () => {
    const e = await setup();
    const s = await login(e);
    const add = (displayName: string) =>
      e.app.inject({
        method: 'POST',
        url: '/api/hall/users',
        payload: { name: `u${Math.random().toString(36).slice(2, 8)}`, role: 'viewer', displayName },
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      });
    for (const bad of ['张\u202e三', 'a\u0000b', '窗口\u2066', 'x\u200fy', 'line\nbreak']) {
      const r = await add(bad);
      expect(r.statusCode, JSON.stringify(bad)).toBe(400);
      expect(r.json().message).toMatch(/control/);
    }
    expect((await add('王五')).statusCode).toBe(201);
  });
});
