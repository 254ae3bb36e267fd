/** Real parts for forwarder tests: a hub database, a mosquitto broker, a CA made with openssl. */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newRecordId } from '../../protocol/index.js';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { ProvinceConfigSchema, type ProvinceConfigInput } from '../../hub/forwarder/config.js';
import { createForwarder, type CreateForwarderOptions } from '../../hub/forwarder/create.js';
import type { Forwarder } from '../../hub/forwarder/forwarder.js';
import { createMetrics } from '../../hub/metrics.js';
import { silentLog } from '../helpers/log.js';
import { expect } from 'vitest';
import { CLI_PATH, freePort } from '../../simulator/processes.js';
import type { RatingRecord } from '../../protocol/index.js';
import type { TestDevice, TestHall } from '../helpers/hall.js';
import { sleep } from '../helpers/wait.js';

/** A forwarder from `db` to the province at `url` (`config`: the rest of its province section), started. */
export function startForwarder(
  db: Db,
  url: string,
  config: Partial<ProvinceConfigInput> = {},
  more: Pick<CreateForwarderOptions, 'ingestBacklogged'> = {},
): Forwarder {
  const f = createForwarder({
    config: ProvinceConfigSchema.parse({ url, lingerMs: 0, ...config }),
    db,
    hall: 'hall-1',
    log: silentLog(),
    metrics: createMetrics(),
    ...more,
  });
  f.start();
  return f;
}

/** A deterministic random source (mulberry32), so fault draws repeat from run to run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A hub-made evaluation (no device record, so no ratings row is needed); override anything. */
export function hubEvaluation(over: Partial<Evaluation> = {}): Evaluation {
  return {
    id: newRecordId(),
    kind: 'default',
    hall: 'hall-1',
    device: null,
    window: '12',
    staffId: 'S042',
    level: 3,
    reasons: [],
    text: null,
    session: { id: 'sess-1', cases: ['BJ2026112500001'], itemCode: '11420000MB1234567X', itemName: '不动产登记' },
    assessedAt: 1_764_000_000_000,
    clockSynced: true,
    assessNumber: 1,
    flags: [],
    supersedes: null,
    record: null,
    ...over,
  };
}

export interface TempDb {
  dir: string;
  db: Db;
  cleanup(): void;
}

export function tempHubDb(): TempDb {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-fwd-'));
  const db = openHubDb(join(dir, 'hub.db'));
  return {
    dir,
    db,
    cleanup() {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function queueStates(db: Db): Record<string, number> {
  return Object.fromEntries(
    db
      .prepare<[], { state: string; n: number }>('SELECT state, count(*) AS n FROM forward_queue GROUP BY state')
      .all()
      .map((r) => [r.state, r.n]),
  );
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** Debian's mosquitto on a free loopback port, started and restarted by the test. */
export class Mosquitto {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(dir: string): Promise<Mosquitto> {
    mkdirSync(dir, { recursive: true });
    const m = new Mosquitto(dir, await freePort());
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${m.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        `log_dest file ${join(dir, 'mosquitto.log')}`,
        'log_type all',
        '',
      ].join('\n'),
    );
    await m.up();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const out = openSync(join(this.dir, 'stdout.log'), 'a');
    this.proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', out, out] });
    const until = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (this.proc.exitCode !== null) throw new Error(`mosquitto exited with ${this.proc.exitCode}; see ${this.dir}`);
      if (Date.now() > until) throw new Error('mosquitto did not start listening');
      await sleep(50);
    }
  }

  async down(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((res) => {
      p.once('exit', () => res());
      p.kill('SIGTERM');
    });
  }
}

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl), as the province would have. */
export function makeCa(dir: string): { caFile: string; keyFile: string; certFile: string; otherCaFile: string } {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=Test Provincial Government CA');
  ossl('req', '-x509', ...ec, '-keyout', f('other.key'), '-out', f('other.crt'), '-days', '2', '-subj', '/CN=Some Other CA');
  ossl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ossl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.crt'),
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
  );
  return { caFile: f('ca.crt'), keyFile: f('server.key'), certFile: f('server.crt'), otherCaFile: f('other.crt') };
}

/** Every press is at the province exactly once (native profile), and nothing else is. */
export async function expectEachPressOnce(hall: TestHall, pressed: RatingRecord[]): Promise<void> {
  const recs = await hall.provinceRecords();
  expect(recs).toHaveLength(pressed.length);
  expect(new Set(recs.map((r) => r.record.id))).toEqual(new Set(pressed.map((r) => r.id)));
  expect(new Set(recs.map((r) => `${r.record.device}/${r.record.seq}`)).size).toBe(pressed.length);
}

/** Presses `n` times on each device, `gapMs` apart, cycling through the buttons (a 差评 skips its reasons screen). */
export async function pressSteadily(devices: TestDevice[], n: number, gapMs = 10, onStep?: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i++) {
    for (const d of devices) d.rate(i % 5);
    await onStep?.(i);
    await sleep(gapMs);
  }
}

/** Runs the built CLI (dist/) and returns its output; tests that call it need `npx tsc -p .` first. */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI_PATH, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
