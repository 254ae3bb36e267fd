/**
 * Failed web log-ins are counted by an atomic increment that is also the lock check, so
 * guesses sent all at once lock the account just as the same guesses one after another do.
 * A real hub on loopback, real HTTP requests in parallel, a fake clock for the lock's end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../hub/hub.js';
import { LOCK_MS, MAX_FAILURES } from '../../hub/users/users.js';
import { silentLog } from '../helpers/log.js';

let hub: Hub | null = null;
let dir = '';
afterEach(async () => {
  await hub?.close();
  hub = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function hubWithClock(): Promise<{ hub: Hub; url: string; clock: { t: number } }> {
  dir = mkdtempSync(join(tmpdir(), 'hcp-lock-'));
  const clock = { t: Date.now() };
  hub = await startHub(
    { dataDir: join(dir, 'hub'), hall: 'lock-hall', mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
    silentLog(),
    { now: () => clock.t },
  );
  await hub.web.users.add('test', { name: 'sup', role: 'supervisor', password: 'right-password-1' });
  return { hub, url: `http://127.0.0.1:${hub.ports.http}`, clock };
}

const login = (url: string, password: string) =>
  fetch(`${url}/api/hall/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'sup', password }),
  });

const passwordChecks = (h: Hub) =>
  h.web.audit.recent(1000).filter((r) => r.actor === 'sup' && r.action === 'login-failed' && JSON.parse(r.detail).reason === 'bad-password')
    .length;

describe('web log-in lock-out under concurrent guesses', () => {
  it('50 concurrent wrong passwords lock the account; the right password is then refused until the lock ends', async () => {
    const { hub: h, url, clock } = await hubWithClock();
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => login(url, `wrong-guess-${i}`)));
    const codes = answers.map((r) => r.status);
    expect(codes.every((c) => c === 401 || c === 429)).toBe(true);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(50 - MAX_FAILURES);
    // No more passwords were tried than one after another would allow.
    expect(passwordChecks(h)).toBeLessThanOrEqual(MAX_FAILURES);

    const refused = await login(url, 'right-password-1');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('set-cookie')).toBeNull();
    expect(await refused.json()).toMatchObject({ error: 'locked' });

    clock.t += LOCK_MS - 1000;
    expect((await login(url, 'right-password-1')).status).toBe(429);
    clock.t += 1001;
    const ok = await login(url, 'right-password-1');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('set-cookie')).toMatch(/^hcp_session=/);
  }, 60_000);

  it('after the lock ends a fresh count starts: four wrong guesses do not lock, the fifth does', async () => {
    const { url, clock } = await hubWithClock();
    await Promise.all(Array.from({ length: 10 }, () => login(url, 'wrong-wrong-1')));
    clock.t += LOCK_MS + 1;
    for (let i = 0; i < MAX_FAILURES - 1; i++) expect((await login(url, 'wrong-wrong-2')).status).toBe(401);
    expect((await login(url, 'wrong-wrong-3')).status).toBe(429);
    expect((await login(url, 'right-password-1')).status).toBe(429);
  }, 60_000);
});
