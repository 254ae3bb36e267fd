/**
 * A one-time enrolment token is redeemed by exactly one device, however many race for it:
 * parallel enrolments over real HTTP against a real hub, each with its own key.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_VERSION } from '../../device/agent.js';
import { enrol, EnrolmentError } from '../../device/enrolment/enrolment.js';
import { loadOrCreateKeys } from '../../device/identity/keys.js';
import { exportPublicKey, generateDeviceKeys } from '../../protocol/index.js';
import { FAST_WALK_UP, TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

describe('one-time enrolment tokens', () => {
  it('20 parallel enrolments with one token: exactly one succeeds, the rest are refused with 403, and only the winner rates over MQTT', async () => {
    hall = await TestHall.start();
    const h = hall;
    const { token, device } = await h.api<{ token: string; device: { id: string } }>('/api/devices', {
      window: '7',
      settings: FAST_WALK_UP,
    });
    const dirs = Array.from({ length: 20 }, (_, i) => join(h.dir, 'racers', String(i)));
    for (const d of dirs) mkdirSync(d, { recursive: true });

    // Each racer is a real device enrolment (own key, own data directory), all at once.
    const results = await Promise.allSettled(dirs.map((d) => enrol(d, h.hubUrl, token, FIRMWARE_VERSION)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(refusals).toHaveLength(19);
    for (const e of refusals) {
      expect(e).toBeInstanceOf(EnrolmentError);
      expect(e.message).toMatch(/^hub refused enrolment \(403\): enrolment token is unknown or already used$/);
    }
    const winner = dirs[won[0]!]!;
    // Only the winner holds credentials; the hub holds the winner's key and no other.
    expect(dirs.filter((d) => existsSync(join(d, 'enrolment.json')))).toEqual([winner]);
    const row = h.hub!.registry.get(device.id)!;
    expect(row.public_key).toBe(exportPublicKey(loadOrCreateKeys(winner).publicKey));
    expect(row.enrolled_at).not.toBeNull();

    // The winner connects with its secret and a signed rating is stored.
    const d = await h.runDevice(device.id, winner);
    await waitFor(() => d.agent.link.connected, 'winner connected');
    d.rate(0);
    await waitFor(() => d.agent.outbox.depth() === 0 && d.agent.outbox.stats().lastSeq === 1, 'winner rating acknowledged');
    expect(h.hub!.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM ratings WHERE device = ?').get(device.id)!.n).toBe(1);

    // The token is spent: a late 21st try is refused the same way.
    const late = await fetch(`${h.hubUrl}/api/enrol`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, publicKey: exportPublicKey(loadOrCreateKeys(dirs[(won[0]! + 1) % 20]!).publicKey) }),
    });
    expect(late.status).toBe(403);
    expect(h.hub!.registry.get(device.id)!.public_key).toBe(row.public_key);
  }, 60_000);

  it('an expired token is refused with 403 and says so', async () => {
    hall = await TestHall.start();
    const { device, token } = hall.hub!.registry.add({ window: '8', tokenTtlMs: -1 });
    const r = await fetch(`${hall.hubUrl}/api/enrol`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, publicKey: exportPublicKey(generateDeviceKeys().publicKey) }),
    });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: 'token-expired' });
    expect(hall.hub!.registry.get(device.id)!.enrolled_at).toBeNull();
  });
});
