/**
 * The device's updater against a real hub (HTTP download with the device's own credentials),
 * real release slots (links, probation file) in a temporary directory and small signed
 * bundles: what it accepts, what it refuses and why, and how it resumes.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unpackBundle } from '../../common/release/bundle.js';
import { generateReleaseKeys } from '../../common/release/manifest.js';
import { ReleaseSlots } from '../../common/release/slots.js';
import { Updater, UPDATE_DIR } from '../../device/update/updater.js';
import { releaseTargetOf } from '../../hub/releases/releases.js';
import type { ReleaseTarget } from '../../protocol/index.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import { startHub } from '../../hub/hub.js';
import { makeHallPki } from '../../hub/tls/hall-ca.js';
import { caFingerprint } from '../../hub/tls/listener.js';
import { TestHall } from '../helpers/hall.js';
import { silentLog } from '../helpers/log.js';
import { tinyBundle } from '../helpers/releases.js';
import { waitFor } from '../helpers/wait.js';
import { enrolledDevice, type Creds } from '../hub/helpers.js';

const keys = generateReleaseKeys();
const other = generateReleaseKeys();
let scratch: string;
let hall: TestHall;
const b: Record<string, string> = {};
const updaters: Updater[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'hcp-updater-'));
  b.v1 = await tinyBundle('1.0.0', keys.privatePem, join(scratch, 'b1'));
  b.v2 = await tinyBundle('1.1.0', keys.privatePem, join(scratch, 'b2'));
  b.v3 = await tinyBundle('1.2.0', keys.privatePem, join(scratch, 'b3'));
  b.older = await tinyBundle('0.9.0', keys.privatePem, join(scratch, 'bo'));
  b.foreign = await tinyBundle('1.3.0', other.privatePem, join(scratch, 'bf'));
  const t = mkdtempSync(join(tmpdir(), 'hcp-tamper-'));
  spawnSync('tar', ['-xzf', b.v3, '-C', t]);
  writeFileSync(join(t, 'bin', 'haochaping.js'), 'process.exit(0)\n');
  b.tampered = join(scratch, 'tampered.tar.gz');
  spawnSync('tar', ['-czf', b.tampered, '-C', t, '.']);
  rmSync(t, { recursive: true, force: true });
  hall = await TestHall.start();
  for (const f of [b.v2, b.v3, b.older]) await hall.hub!.releases.add(f!, keys.publicPem);
}, 60_000);
afterEach(() => {
  for (const u of updaters.splice(0)) u.stop();
});
afterAll(async () => {
  await hall?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** An installed device: v1 unpacked and current, enrolled with the hub. */
async function installed(window: string): Promise<{ creds: Creds; slots: ReleaseSlots }> {
  const base = mkdtempSync(join(scratch, 'opt-'));
  const slots = new ReleaseSlots(base);
  await unpackBundle(b.v1!, slots.releasesDir, { publicPem: keys.publicPem });
  slots.switchTo('1.0.0');
  return { creds: await enrolledDevice(hall, window), slots };
}

function updater(creds: Creds, slots: ReleaseSlots, currentVersion: string, extra: { probationS?: number; releaseKey?: string } = {}) {
  const restarts: string[] = [];
  const u = new Updater({
    dataDir: creds.dir,
    hub: { url: hall.hubUrl, username: creds.id, password: creds.password, ca: null },
    log: silentLog(),
    slots,
    releaseKey: extra.releaseKey ?? keys.publicPem,
    currentVersion,
    probationS: extra.probationS ?? 120,
    onChange: () => {},
    restart: (why) => restarts.push(why),
    retryMs: 50,
  });
  updaters.push(u);
  u.start();
  return { u, restarts };
}

function target(device: string, version: string): ReleaseTarget {
  hall.hub!.releases.rollout(version, { devices: [device] });
  return releaseTargetOf(hall.hub!.db, device)!;
}

describe('the device updater', { timeout: 60_000 }, () => {
  it('fetches its target with its own credentials, checks it with the pinned key, switches `current` on probation and asks to restart; the new release confirms once healthy', async () => {
    const { creds, slots } = await installed('21');
    const { u, restarts } = updater(creds, slots, '1.0.0', { probationS: 120 });
    u.setTarget(target(creds.id, '1.1.0'));
    await waitFor(() => restarts.length > 0, 'the restart');
    expect(restarts).toEqual(['release 1.1.0 installed']);
    expect(slots.currentVersion()).toBe('1.1.0');
    expect(slots.previousVersion()).toBe('1.0.0');
    const pending = slots.pending()!;
    expect(pending.version).toBe('1.1.0');
    expect(Math.abs(pending.deadline - (Date.now() / 1000 + 120))).toBeLessThan(5);
    expect(u.report).toEqual({ state: 'installed', version: '1.1.0', reason: 'switched; restarting into it' });
    expect(readFileSync(join(slots.releasesDir, '1.1.0', 'package.json'), 'utf8')).toContain('"1.1.0"');
    expect(readdirSync(join(creds.dir, UPDATE_DIR))).toEqual(['state.json']);
    u.stop();

    // The process systemd starts next runs 1.1.0: on probation until healthy.
    const next = updater(creds, slots, '1.1.0');
    expect(next.u.report).toMatchObject({ state: 'installed', version: '1.1.0' });
    next.u.healthy();
    expect(slots.pending()).toBeNull();
    expect(next.u.report).toEqual({ state: 'active', version: '1.1.0' });
    expect(next.restarts).toEqual([]);
  });

  it('a tampered bundle from a compromised hub, one signed by another key, and an older release are each refused with the reason; `current` stays', async () => {
    const { creds, slots } = await installed('22');
    const { u, restarts } = updater(creds, slots, '1.0.0');
    const releases = hall.hub!.releases;
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    // What a hub that was broken into could do: serve other bytes, announcing their hash.
    const serve = (version: string, file: string) => {
      copyFileSync(file, releases.fileOf(releases.get(version)!));
      hall.hub!.db.prepare('UPDATE releases SET sha256 = ?, size = ? WHERE version = ?').run(sha(file), statSync(file).size, version);
    };
    const refusedWith = async (version: string) => {
      u.setTarget(target(creds.id, version));
      await waitFor(() => u.report?.state === 'failed' && u.report.version === version, `the refusal of ${version}`);
      return u.report!.reason!;
    };
    serve('1.2.0', b.tampered!);
    expect(await refusedWith('1.2.0')).toMatch(/^hash-mismatch: bin\/haochaping\.js does not match its hash/);
    serve('1.2.0', b.foreign!);
    expect(await refusedWith('1.2.0')).toMatch(/^bad-signature: the bundle is not signed by the pinned release key/);
    expect(await refusedWith('0.9.0')).toMatch(/^downgrade: 0\.9\.0 is older than the running 1\.0\.0/);
    expect(restarts).toEqual([]);
    expect(slots.currentVersion()).toBe('1.0.0');
    expect(readdirSync(slots.releasesDir)).toEqual(['1.0.0']);
    expect(readdirSync(join(creds.dir, UPDATE_DIR))).toEqual(['state.json']);
  });

  it('an older release is taken only where the device allows a downgrade explicitly', async () => {
    const { creds, slots } = await installed('28');
    const restarts: string[] = [];
    const u = new Updater({
      dataDir: creds.dir,
      hub: { url: hall.hubUrl, username: creds.id, password: creds.password, ca: null },
      log: silentLog(),
      slots,
      releaseKey: keys.publicPem,
      currentVersion: '1.0.0',
      allowDowngrade: true,
      onChange: () => {},
      restart: (why) => restarts.push(why),
    });
    updaters.push(u);
    u.start();
    u.setTarget(target(creds.id, '0.9.0'));
    await waitFor(() => restarts.length > 0, 'the restart into the older release');
    expect(slots.currentVersion()).toBe('0.9.0');
  });

  it('over HTTPS it trusts the hall CA pinned at enrolment, and nothing else', async () => {
    const pki = await makeHallPki({ hall: 'tls-hall', hosts: ['127.0.0.1'] });
    const dir = mkdtempSync(join(scratch, 'tls-'));
    const f = { key: join(dir, 'server.key'), cert: join(dir, 'server.crt'), ca: join(dir, 'ca.crt') };
    writeFileSync(f.key, pki.serverKey);
    writeFileSync(f.cert, pki.serverCert);
    writeFileSync(f.ca, pki.caCert);
    const hub = await startHub(
      {
        dataDir: join(dir, 'hub'),
        hall: 'tls-hall',
        mqtt: { host: '127.0.0.1', port: null, tls: { port: 0, keyFile: f.key, certFile: f.cert, caFile: f.ca } },
        http: { host: '127.0.0.1', port: 0 },
      },
      silentLog(),
    );
    try {
      const url = `https://127.0.0.1:${hub.ports.http}`;
      await hub.releases.add(b.v2!, keys.publicPem);
      const { device, token } = hub.registry.add({ window: '30' });
      const devDir = join(dir, 'device');
      mkdirSync(devDir);
      const { enrolment } = await enrol(devDir, url, token, 'test', { caSha256: caFingerprint(Buffer.from(pki.caCert)) });
      hub.releases.rollout('1.1.0', { devices: [device.id] });
      const t = releaseTargetOf(hub.db, device.id)!;
      const run = async (ca: string | null) => {
        const base = mkdtempSync(join(dir, 'opt-'));
        const slots = new ReleaseSlots(base);
        await unpackBundle(b.v1!, slots.releasesDir, { publicPem: keys.publicPem });
        slots.switchTo('1.0.0');
        const restarts: string[] = [];
        const u = new Updater({
          dataDir: mkdtempSync(join(dir, 'data-')),
          hub: { url, username: enrolment.username, password: enrolment.password, ca },
          log: silentLog(),
          slots,
          releaseKey: keys.publicPem,
          currentVersion: '1.0.0',
          onChange: () => {},
          restart: (why) => restarts.push(why),
          retryMs: 50,
        });
        updaters.push(u);
        u.start();
        u.setTarget(t);
        return { u, slots, restarts };
      };
      const pinned = await run(enrolment.ca);
      await waitFor(() => pinned.restarts.length > 0, 'the update over HTTPS');
      expect(pinned.slots.currentVersion()).toBe('1.1.0');
      // Without the pinned CA the hub's certificate is not believed: nothing is fetched.
      const unpinned = await run(null);
      await waitFor(() => /retrying: .*certificate/.test(unpinned.u.report?.reason ?? ''), 'the refused certificate');
      expect(unpinned.slots.currentVersion()).toBe('1.0.0');
    } finally {
      for (const u of updaters.splice(0)) u.stop();
      await hub.close();
    }
  });

  it('a key that arrives from elsewhere is not the pinned one: a bundle signed by it is refused', async () => {
    const { creds, slots } = await installed('23');
    // The device pins `other`; the hub's bundles are signed with `keys`.
    const { u } = updater(creds, slots, '1.0.0', { releaseKey: other.publicPem });
    u.setTarget(target(creds.id, '1.1.0'));
    await waitFor(() => u.report?.state === 'failed', 'the refusal');
    expect(u.report!.reason).toMatch(/^bad-signature/);
    expect(slots.currentVersion()).toBe('1.0.0');
  });

  it('a download cut off by a kill is completed; a corrupt partial file is fetched again from the start', async () => {
    for (const [window, corrupt] of [
      ['24', false],
      ['25', true],
    ] as const) {
      const { creds, slots } = await installed(window);
      const t = target(creds.id, '1.1.0');
      const file = hall.hub!.releases.fileOf(hall.hub!.releases.get('1.1.0')!);
      const half = readFileSync(file).subarray(0, Math.floor(t.size / 2));
      if (corrupt) half.fill(7);
      mkdirSync(join(creds.dir, UPDATE_DIR));
      writeFileSync(join(creds.dir, UPDATE_DIR, `${t.sha256}.part`), half);
      const { u, restarts } = updater(creds, slots, '1.0.0');
      u.setTarget(t);
      await waitFor(() => restarts.length > 0, 'the restart');
      expect(slots.currentVersion()).toBe('1.1.0');
    }
  });

  it('a release that did not become healthy by its deadline asks to restart, so the launcher goes back', async () => {
    const { creds, slots } = await installed('26');
    await unpackBundle(b.v2!, slots.releasesDir, { publicPem: keys.publicPem });
    slots.switchTo('1.1.0', { deadline: Math.floor(Date.now() / 1000) + 1 });
    const { u, restarts } = updater(creds, slots, '1.1.0');
    expect(u.report).toMatchObject({ state: 'installed', version: '1.1.0' });
    await waitFor(() => restarts.length > 0, 'the restart at the deadline', 10_000);
    expect(restarts).toEqual(['not healthy by its deadline']);
    expect(slots.pending()?.version).toBe('1.1.0'); // the launcher, not the agent, goes back
  });

  it('after the launcher rolled back, the old release reports it and does not fetch that release again', async () => {
    const { creds, slots } = await installed('27');
    writeFileSync(join(slots.base, 'update-failed'), '1.1.0 started 3 times without becoming healthy\n');
    const t = target(creds.id, '1.1.0');
    const { u, restarts } = updater(creds, slots, '1.0.0');
    expect(u.report).toEqual({ state: 'rolled-back', version: '1.1.0', reason: 'started 3 times without becoming healthy' });
    expect(existsSync(join(slots.base, 'update-failed'))).toBe(false);
    u.setTarget(t);
    await new Promise((r) => setTimeout(r, 500));
    expect(u.report?.state).toBe('rolled-back');
    expect(restarts).toEqual([]);
    expect(readdirSync(join(creds.dir, UPDATE_DIR))).toEqual(['state.json']);
  });
});
