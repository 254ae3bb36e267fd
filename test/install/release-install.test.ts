/**
 * Release bundles and the installer, with real bundles built from this tree, real tar, a staged
 * root checked by systemd-analyze, and a hub started from the installed tree serving a real agent.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleManifest, unpackBundle } from '../../common/release/bundle.js';
import { ReleaseError } from '../../common/release/manifest.js';
import { install, installPaths, uninstall } from '../../common/install/install.js';
import { Agent } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import { CLI_PATH, freePort, stopProcess, waitHttpOk } from '../../simulator/processes.js';
import { startProvince } from '../../simulator/province/province.js';
import { spawn } from 'node:child_process';
import { makeReleaseFixtures, type ReleaseFixtures } from '../helpers/releases.js';
import { silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';

let f: ReleaseFixtures;
let scratch: string;
beforeAll(async () => {
  f = await makeReleaseFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'hcp-install-'));
}, 600_000);
afterAll(() => {
  f?.close();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

const mode = (p: string) => statSync(p).mode & 0o777;

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 120_000 });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ReleaseError) return e.reason;
    throw e;
  }
  return 'accepted';
}

describe('release bundles', { timeout: 180_000 }, () => {
  it('a bundle holds the compiled code, production dependencies and the installer notes — no tests, benches or dev tools', async () => {
    const m = await readBundleManifest(f.v1.file);
    const files = Object.keys(m.files);
    expect(files).toContain('dist/bin/main.js');
    expect(files).toContain('bin/haochaping.js');
    expect(files).toContain('hardware-notes.md');
    expect(files.some((p) => p.startsWith('node_modules/better-sqlite3/build/Release/') && p.endsWith('.node'))).toBe(true);
    expect(files.some((p) => p.startsWith('node_modules/aedes/'))).toBe(true);
    for (const dev of ['vitest', 'typescript', 'playwright-core', 'mock-firmata'])
      expect(
        files.some((p) => p.startsWith(`node_modules/${dev}/`)),
        dev,
      ).toBe(false);
    expect(files.some((p) => p.startsWith('test/') || p.startsWith('dist/bench/') || p.startsWith('dist/test/'))).toBe(false);
    // What dependencies ship for their developers stays out; their licences and our own source maps stay in.
    const deps = files.filter((p) => p.startsWith('node_modules/'));
    expect(deps.filter((p) => /\.(map|ts)$|\/CHANGELOG\.md$/.test(p) || p.startsWith('node_modules/better-sqlite3/deps/'))).toEqual([]);
    expect(deps.filter((p) => /\/LICEN[CS]E\.md$/i.test(p)).length).toBeGreaterThan(0);
    expect(files).toContain('node_modules/johnny-five/README.md'); // its licence notice is only there
    expect(files).toContain('dist/bin/main.js.map');
    expect(m.platform).toBe(`${process.platform}-${process.arch}`);
  });

  it("an unpacked bundle runs: its CLI answers with the bundle's own version", () => {
    const r = spawnSync(process.execPath, [join(f.tree, 'bin', 'haochaping.js'), '--version'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(`haochaping-device/${f.v1.version}`);
  });

  it('a tampered bundle, one signed by another key, an older one and a file that is no bundle are each refused with their reason', async () => {
    const to = (n: string) => join(scratch, n);
    const trust = { publicPem: f.keys.publicPem, currentVersion: f.v1.version };
    expect(await refusal(unpackBundle(f.tampered, to('t'), trust))).toBe('hash-mismatch');
    expect(await refusal(unpackBundle(f.foreign, to('f'), trust))).toBe('bad-signature');
    expect(await refusal(unpackBundle(f.older.file, to('o'), trust))).toBe('downgrade');
    expect(await refusal(unpackBundle(f.older.file, to('o2'), { ...trust, allowDowngrade: true }))).toBe('accepted');
    expect(await refusal(unpackBundle(f.small, to('v2'), trust))).toBe('accepted');
    // Nothing of a refused bundle is left behind in the releases directory …
    expect(existsSync(to('t')) ? spawnSync('ls', ['-A', to('t')], { encoding: 'utf8' }).stdout.trim() : '').toBe('');
    // … and one its signed manifest refuses (a foreign key, a downgrade) is refused before anything is unpacked.
    expect([existsSync(to('f')), existsSync(to('o'))]).toEqual([false, false]);
    // A file that is not a bundle is refused with what tar found wrong with it.
    writeFileSync(to('junk.tar.gz'), 'not a bundle\n');
    await expect(unpackBundle(to('junk.tar.gz'), to('j'), trust)).rejects.toThrow(/^the bundle is not a readable archive \(.*gzip/);
  });

  it('`release verify` says why in one line and exits 1 — no stack trace', () => {
    const r = cli(['release', 'verify', f.tampered, '--pubkey', f.publicKeyFile, '--current-version', f.v1.version]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^refused \(hash-mismatch\): dist\/bin\/main\.js does not match its hash/);
    const ok = cli(['release', 'verify', f.small, '--pubkey', f.publicKeyFile, '--current-version', f.v1.version]);
    expect(ok.stdout).toMatch(new RegExp(`^ok: haochaping ${f.v2.version.replaceAll('.', '\\.')} for`));
    expect(ok.status).toBe(0);
  });
});

describe('the installer', { timeout: 300_000 }, () => {
  it('installs into a temporary root: the tree, modes, pinned key, launcher and units systemd accepts; a second run changes nothing', async () => {
    const root = join(scratch, 'root-tree');
    for (const role of ['hub', 'device'] as const) {
      const changed = await install({ role, root, bundle: f.v1.file, releaseKey: f.publicKeyFile });
      expect(changed.length).toBeGreaterThan(0);
      const p = installPaths(root, role);
      expect(readlinkSync(join(p.opt, 'current'))).toBe(`releases/${f.v1.version}`);
      expect(mode(p.varlib)).toBe(0o700);
      expect(mode(p.data)).toBe(0o700);
      expect(mode(p.env)).toBe(0o640);
      expect(mode(p.key)).toBe(0o644);
      expect(mode(p.launcher)).toBe(0o755);
      expect(mode(p.unit)).toBe(0o644);
      expect(readFileSync(p.key, 'utf8')).toBe(f.keys.publicPem);
      expect(readlinkSync(p.command)).toBe('/opt/haochaping/bin/haochaping');
      const unit = readFileSync(p.unit, 'utf8');
      expect(unit).toContain(
        `ExecStart=/opt/haochaping/bin/haochaping ${role === 'hub' ? 'hub $HCP_HUB_ARGS' : 'device run $HCP_DEVICE_ARGS'}`,
      );
      expect(unit).toMatch(/NoNewPrivileges=yes[\s\S]*ProtectSystem=strict/);
      expect(unit).toContain(`StateDirectory=haochaping/${role}`);
      expect(await install({ role, root, bundle: f.v1.file, releaseKey: f.publicKeyFile })).toEqual([]);
    }
    // systemd-analyze verify against the staged root (with the host's system units for targets).
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    for (const unit of ['haochaping-hub.service', 'haochaping-device.service']) {
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, `/etc/systemd/system/${unit}`], { encoding: 'utf8' });
      expect({ unit, status: r.status, out: (r.stdout + r.stderr).trim() }).toEqual({ unit, status: 0, out: '' });
    }
  });

  it('an upgrade switches `current` and keeps data and options; a downgrade or a foreign key is refused; uninstall keeps the data', async () => {
    const root = join(scratch, 'root-upgrade');
    await install({ role: 'device', root, bundle: f.v1.file, releaseKey: f.publicKeyFile });
    const p = installPaths(root, 'device');
    writeFileSync(join(p.data, 'outbox.db'), 'ratings');
    writeFileSync(p.env, 'HCP_DEVICE_ARGS=--data /var/lib/haochaping/device --buttons serial\n');
    const changed = await install({ role: 'device', root, bundle: f.v2.file });
    expect(changed).toContain(`release ${f.v2.version} is current (was ${f.v1.version})`);
    expect(readlinkSync(join(p.opt, 'current'))).toBe(`releases/${f.v2.version}`);
    expect(readlinkSync(join(p.opt, 'previous'))).toBe(`releases/${f.v1.version}`);
    expect(readFileSync(p.env, 'utf8')).toContain('--buttons serial');
    await expect(install({ role: 'device', root, bundle: f.older.file })).rejects.toMatchObject({ reason: 'downgrade' });
    await expect(install({ role: 'device', root, bundle: f.foreign })).rejects.toMatchObject({ reason: 'bad-signature' });
    const other = join(scratch, 'other.pub');
    writeFileSync(other, f.otherKeys.publicPem);
    await expect(install({ role: 'device', root, bundle: f.v2.file, releaseKey: other })).rejects.toThrow(/pins another release key/);
    expect(readlinkSync(join(p.opt, 'current'))).toBe(`releases/${f.v2.version}`);
    uninstall('device', root);
    expect(existsSync(p.opt)).toBe(false);
    expect(existsSync(p.unit)).toBe(false);
    expect(readFileSync(join(p.data, 'outbox.db'), 'utf8')).toBe('ratings');
    expect(existsSync(p.key)).toBe(true);
  });

  it('a hub started from the installed tree through its launcher serves a device: the rating reaches the province', async () => {
    const root = join(scratch, 'root-hub');
    await install({ role: 'hub', root, bundle: f.v1.file, releaseKey: f.publicKeyFile });
    const p = installPaths(root, 'hub');
    const log = silentLog();
    const province = await startProvince({ dbPath: join(scratch, 'province.db'), log });
    const [mqtt, http] = [await freePort(), await freePort()];
    const logFile = join(scratch, 'installed-hub.log');
    const out = openSync(logFile, 'a');
    const hub = spawn(
      p.launcher,
      [
        'hub',
        '--data',
        p.data,
        '--host',
        '127.0.0.1',
        '--mqtt-port',
        String(mqtt),
        '--http-port',
        String(http),
        '--province-url',
        `${province.url}/api/evaluations`,
      ],
      {
        env: { ...process.env, HCP_BASE: p.opt },
        stdio: ['ignore', out, out],
      },
    );
    const url = `http://127.0.0.1:${http}`;
    let agent: Agent | null = null;
    try {
      await waitHttpOk(`${url}/api/health`, 60_000, hub).catch((e: Error) => {
        throw new Error(`${e.message}; its log ends:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      });
      const token = readFileSync(join(p.data, 'admin.token'), 'utf8').trim();
      const reg = (await (
        await fetch(`${url}/api/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ window: '7', settings: { mode: 'walk-up', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } } }),
        })
      ).json()) as { token: string };
      const dev = join(scratch, 'dev');
      mkdirSync(dev);
      await enrol(dev, url, reg.token, 'test');
      const buttons = new VirtualButtons(5);
      agent = Agent.open({ dataDir: dev, buttons, display: new VirtualDisplay(), log, clockSynced: () => true });
      await agent.start();
      buttons.press(0); // 非常满意: no reasons screen
      await waitFor(
        async () => {
          const r = (await (await fetch(`${province.url}/api/evaluations?after=0&limit=10`)).json()) as { records: unknown[] };
          return r.records.length === 1;
        },
        'the rating at the province',
        30_000,
      );
    } finally {
      await agent?.stop();
      await stopProcess(hub);
      await province.close();
    }
  }, 120_000);
});
