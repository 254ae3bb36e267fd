/**
 * Fleet updates end to end, with real parts: two versions built from this tree as signed
 * bundles (the second re-sealed from the first, as a hotfix build is), a device installed from
 * the first into a staged root, run through the installed launcher by a supervisor loop that
 * does what systemd's Restart=always does, a real hub serving the bundle, and presses going in
 * all the while through the device's control channel.
 *
 * Slow by nature (one bundle build, ~30 s; then each update downloads, hashes and unpacks
 * ~9,000 files): `npx vitest run test/releases/fleet-update.test.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, unpackBundle } from '../../common/release/bundle.js';
import { generateReleaseKeys } from '../../common/release/manifest.js';
import { install, installPaths } from '../../common/install/install.js';
import { deviceStatusReport } from '../../device/status-report.js';
import { TestHall } from '../helpers/hall.js';
import { killProcessesMentioning } from '../helpers/procs.js';
import { deriveBundle, PROJECT_DIR } from '../helpers/releases.js';
import { waitFor } from '../helpers/wait.js';

const keys = generateReleaseKeys();
let scratch: string;
let hall: TestHall;
let keyFile: string;
const v = { v1: '', v2: '', crash: '' };
const files = { v1: '', v2: '', crash: '' };
let v1Files: string[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'hcp-fleet-'));
  keyFile = join(scratch, 'release.pub');
  writeFileSync(keyFile, keys.publicPem);
  const b1 = await buildBundle({ projectDir: PROJECT_DIR, outDir: join(scratch, 'b1'), privatePem: keys.privatePem });
  v.v1 = b1.manifest.version;
  files.v1 = b1.file;
  v1Files = Object.keys(b1.manifest.files);
  const tree = join(scratch, 'tree');
  const { dir } = await unpackBundle(b1.file, tree, { publicPem: keys.publicPem });
  const [maj, min] = v.v1.split('.').map(Number) as [number, number];
  v.v2 = `${maj}.${min + 1}.0`;
  v.crash = `${maj}.${min + 2}.0`;
  files.v2 = await deriveBundle(dir, v.v2, keys.privatePem, join(scratch, 'b2'));
  // A release that dies as soon as it starts (a new file: the tree shares the others by hard links).
  files.crash = await deriveBundle(dir, v.crash, keys.privatePem, join(scratch, 'b3'), (root) => {
    rmSync(join(root, 'bin', 'haochaping.js'));
    writeFileSync(join(root, 'bin', 'haochaping.js'), "throw new Error('this release crashes at start');\n", { mode: 0o755 });
  });
  rmSync(tree, { recursive: true, force: true });
  hall = await TestHall.start();
  await hall.hub!.releases.add(files.v2, keys.publicPem);
  await hall.hub!.releases.add(files.crash, keys.publicPem);
}, 600_000);
afterAll(async () => {
  if (scratch) killProcessesMentioning(scratch);
  await hall?.close();
  // Three installed roots of two releases each: ~60,000 files, slow to delete on a busy disk.
  rmSync(scratch, { recursive: true, force: true });
}, 300_000);

interface Log {
  step?: string;
  msg?: string;
  version?: string;
  reason?: string;
  /** When the test read it. */
  seenAt: number;
}

/**
 * One installed evaluator under a supervisor: the launcher is started again whenever the
 * process ends (Restart=always), presses go in through the control channel while it is up,
 * and every record it said it stored (before its thank-you) is collected.
 */
class Evaluator {
  proc: ChildProcess | null = null;
  readonly thanked = new Set<string>();
  readonly thankedAt: number[] = [];
  readonly logs: Log[] = [];
  starts = 0;
  private up = false;
  private stopping = false;
  private presser: NodeJS.Timeout | null = null;
  private waiters: { want: (l: Log) => boolean; res: () => void }[] = [];

  private constructor(
    readonly id: string,
    readonly dataDir: string,
    readonly paths: ReturnType<typeof installPaths>,
  ) {}

  static async install(name: string): Promise<Evaluator> {
    const root = join(scratch, `root-${name}`);
    await install({ role: 'device', root, bundle: files.v1, releaseKey: keyFile });
    const paths = installPaths(root, 'device');
    const { id, dir } = await hall.enrolDevice(name);
    return new Evaluator(id, dir, paths);
  }

  start(): void {
    this.starts++;
    const p = spawn(
      this.paths.launcher,
      [
        'device',
        'run',
        '--data',
        this.dataDir,
        '--control',
        'stdio',
        '--clock-synced',
        'yes',
        '--release-key',
        this.paths.key,
        '--update-probation',
        '120',
        '--log-level',
        'info',
      ],
      { env: { ...process.env, HCP_BASE: this.paths.opt, HCP_NODE: process.execPath }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.proc = p;
    p.stdin!.on('error', () => {});
    createInterface({ input: p.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { ev: string; id?: string; kind?: string };
        if (e.ev === 'ready') this.up = true;
        if (e.ev === 'stored' && e.id) {
          this.thanked.add(e.id);
          this.thankedAt.push(Date.now());
        }
      } catch {
        /* not an event */
      }
    });
    createInterface({ input: p.stderr! }).on('line', (line) => {
      let l: Log;
      try {
        l = { ...(JSON.parse(line) as Omit<Log, 'seenAt'>), seenAt: Date.now() };
      } catch {
        l = { msg: line, seenAt: Date.now() };
      }
      this.logs.push(l);
      this.waiters = this.waiters.filter((w) => (w.want(l) ? (w.res(), false) : true));
    });
    p.on('exit', () => {
      if (this.proc === p) {
        this.proc = null;
        this.up = false;
      }
      // systemd's Restart=always (RestartSec shortened for the test).
      if (!this.stopping) setTimeout(() => this.start(), 100);
    });
  }

  /** A citizen presses 非常满意 every `ms` while the agent is up (no reasons screen). */
  pressEvery(ms: number): void {
    this.presser = setInterval(() => {
      if (this.up && this.proc?.stdin?.writable) this.proc.stdin.write('{"op":"press","button":0}\n');
    }, ms);
  }

  /** Resolves at the next log line matching `want` (from now on). */
  next(want: (l: Log) => boolean, what: string, ms = 120_000): Promise<void> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timed out waiting for ${what}; last logs: ${JSON.stringify(this.logs.slice(-8))}`)), ms);
      this.waiters.push({ want, res: () => (clearTimeout(t), res()) });
    });
  }

  async killNow(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  /** The release `current` names: it must exist, whole (never neither). */
  currentVersion(): string {
    const rel = readlinkSync(join(this.paths.opt, 'current'));
    const pkg = JSON.parse(readFileSync(join(this.paths.opt, rel, 'package.json'), 'utf8')) as { version: string };
    expect(rel).toBe(`releases/${pkg.version}`);
    expect(existsSync(join(this.paths.opt, rel, 'dist', 'bin', 'main.js'))).toBe(true);
    return pkg.version;
  }

  async waitUp(): Promise<void> {
    await waitFor(() => this.up, `${this.id} up`, 60_000);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.presser) clearInterval(this.presser);
    const p = this.proc;
    if (!p) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
}

const firmware = (id: string) => hall.hub!.status.health(id).firmware;
const update = (id: string) =>
  hall
    .hub!.db.prepare<[string], { version: string; state: string; reason: string | null }>(
      'SELECT version, state, reason FROM device_updates WHERE device = ?',
    )
    .get(id);

async function rollout(version: string, device: string): Promise<void> {
  await hall.api(`/api/releases/${version}/rollout`, { devices: [device] });
}

/** Every press the device thanked is at the hub exactly once, in one gap-free sequence. */
async function everyThankedPressOnce(d: Evaluator): Promise<void> {
  await waitFor(
    () => {
      const n = hall.hub!.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM ratings WHERE device = ?').get(d.id)!.n;
      return n >= d.thanked.size;
    },
    'the thanked presses at the hub',
    60_000,
  );
  const rows = hall
    .hub!.db.prepare<[string], { id: string; seq: number }>('SELECT id, seq FROM ratings WHERE device = ? ORDER BY seq')
    .all(d.id);
  const ids = new Set(rows.map((r) => r.id));
  expect(ids.size).toBe(rows.length);
  for (const id of d.thanked) expect(ids.has(id), id).toBe(true);
  // At most the press a kill interrupted between its commit and its event line is extra.
  expect(rows.length - d.thanked.size).toBeLessThanOrEqual(d.starts);
  expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  expect(hall.hub!.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM gaps WHERE device = ?').get(d.id)!.n).toBe(0);
}

describe('fleet updates of a device process through the hub', { timeout: 600_000 }, () => {
  it('a bundle carries prebuilt binaries for its own platform only (sodium-native ships 13)', () => {
    const prebuilds = [
      ...new Set(v1Files.map((f) => /^node_modules\/(.+\/prebuilds\/[^/]+)\//.exec(f)?.[1]).filter((d) => d !== undefined)),
    ];
    const own = `${process.platform}-${process.arch}`;
    expect(prebuilds.length).toBeGreaterThan(0);
    for (const d of prebuilds) expect(d.split('/').pop()!.split('-')[0]).toBe(process.platform);
    if (['x64', 'arm64'].includes(process.arch)) expect(prebuilds).toContain(`sodium-native/prebuilds/${own}`);
    expect(prebuilds.filter((d) => d.startsWith('sodium-native/'))).toEqual(
      ['x64', 'arm64'].includes(process.arch) ? [`sodium-native/prebuilds/${own}`] : [],
    );
  });

  it('updated from the first release to the second, it reports the new version and keeps rating; every thanked press reaches the hub once', async () => {
    const d = await Evaluator.install('41');
    try {
      d.start();
      await d.waitUp();
      d.pressEvery(150);
      await waitFor(() => firmware(d.id) === `haochaping-device/${v.v1}`, 'the first version in status');
      await waitFor(() => d.thanked.size >= 3, 'some presses before the update');
      const t0 = Date.now();
      await rollout(v.v2, d.id);
      await waitFor(
        () => update(d.id)?.state === 'active' && firmware(d.id) === `haochaping-device/${v.v2}`,
        'the second version active',
        180_000,
      );
      const took = Date.now() - t0;
      const before = d.thanked.size;
      await waitFor(() => d.thanked.size >= before + 3, 'presses under the new version');
      expect(d.currentVersion()).toBe(v.v2);
      expect(readlinkSync(join(d.paths.opt, 'previous'))).toBe(`releases/${v.v1}`);
      expect(existsSync(join(d.paths.opt, 'update-pending'))).toBe(false);
      // Ratings went on while it downloaded, checked and unpacked the bundle.
      const from = d.logs.find((l) => l.step === 'downloading')!.seenAt;
      const to = d.logs.find((l) => l.step === 'switching')!.seenAt;
      const during = d.thankedAt.filter((t) => t > from && t < to).length;
      expect(during).toBeGreaterThan(0);
      await d.stop();
      await everyThankedPressOnce(d);
      console.log(
        `fleet update v${v.v1} → v${v.v2}: ${took} ms from rollout to active (download to switch ${to - from} ms, ${during} presses thanked meanwhile); ${d.thanked.size} presses thanked, ${d.starts} starts`,
      );
    } finally {
      await d.stop();
    }
  });

  it('SIGKILL at each step (download, verify, unpack, switch, first start): it comes back on the old or the new release, never neither, and loses nothing', async () => {
    const d = await Evaluator.install('42');
    const seen: string[] = [];
    try {
      d.start();
      await d.waitUp();
      d.pressEvery(150);
      await waitFor(() => d.thanked.size >= 2, 'presses before the update');
      const step = (name: string) => (l: Log) => l.step === name;
      // The first start of the new release: on probation, not yet healthy.
      const firstStart = (l: Log) => l.step === 'installed' && l.version === v.v2 && /probation/.test(String(l.reason));
      // Each step's waiter is set before the kill of the one before: a restarted agent may get there fast.
      const plan: [string, (l: Log) => boolean][] = [
        ['download', step('downloading')],
        ['verify', step('verifying')],
        ['unpack', step('unpacking')],
        ['switch', step('switching')],
        ['first start', firstStart],
      ];
      let reached = d.next(plan[0]![1], plan[0]![0]);
      await rollout(v.v2, d.id);
      for (let i = 0; i < plan.length; i++) {
        await reached;
        if (plan[i + 1]) reached = d.next(plan[i + 1]![1], plan[i + 1]![0]);
        await d.killNow();
        const cur = d.currentVersion(); // old or new, whole: never neither
        expect([v.v1, v.v2]).toContain(cur);
        seen.push(`${plan[i]![0]} → back on ${cur}`);
        await d.waitUp();
      }
      await waitFor(
        () => update(d.id)?.state === 'active' && firmware(d.id) === `haochaping-device/${v.v2}`,
        'the new release active',
        180_000,
      );
      expect(d.currentVersion()).toBe(v.v2);
      const before = d.thanked.size;
      await waitFor(() => d.thanked.size >= before + 2, 'presses after the update');
      await d.stop();
      await everyThankedPressOnce(d);
      console.log(`kills: ${seen.join(', ')}; ${d.starts} starts, ${d.thanked.size} presses thanked`);
    } finally {
      await d.stop();
    }
  });

  it('a release that crashes at start is rolled back by the launcher within its deadline, and the old release reports why', async () => {
    const d = await Evaluator.install('43');
    try {
      d.start();
      await d.waitUp();
      d.pressEvery(150);
      await waitFor(() => d.thanked.size >= 2, 'presses before the update');
      const switched = d.next((l) => l.step === 'installed' && l.version === v.crash, 'the switch to the crashing release');
      await rollout(v.crash, d.id);
      await switched;
      const t0 = Date.now();
      await waitFor(() => update(d.id)?.state === 'rolled-back', 'the rolled-back report', 120_000);
      const took = Date.now() - t0;
      expect(took).toBeLessThan(120_000); // the probation deadline given to the agent
      expect(update(d.id)).toEqual({ version: v.crash, state: 'rolled-back', reason: 'started 3 times without becoming healthy' });
      expect(d.currentVersion()).toBe(v.v1);
      expect(firmware(d.id)).toBe(`haochaping-device/${v.v1}`);
      // Hall IT at the device sees it too (`haochaping device status`).
      expect(deviceStatusReport(d.dataDir).update).toEqual({
        state: 'rolled-back',
        version: v.crash,
        reason: 'started 3 times without becoming healthy',
      });
      // It does not try the same release again.
      const starts = d.starts;
      const before = d.thanked.size;
      await waitFor(() => d.thanked.size >= before + 3, 'presses after the rollback');
      expect(d.starts).toBe(starts);
      await d.stop();
      await everyThankedPressOnce(d);
      console.log(`crashing release rolled back ${took} ms after the switch (${d.starts} starts)`);
    } finally {
      await d.stop();
    }
  });
});
