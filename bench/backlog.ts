/**
 * A whole hall's week-long outage: `npm run bench:backlog` (options --devices N --records N
 * --processes N --timeout S). 400 evaluators each hold 2,000 undelivered ratings in their real
 * SQLite outbox (signed with the device's own key, chained, as the agent writes them); the hub
 * comes back (started through the real CLI, its own process, forwarding to a stand-in province
 * that stayed up) and every device link connects at once. Measured: the time until every
 * record is acknowledged (issue 14's goal: 800,000 records in ≤ 120 s), records/s over time,
 * and the province forwarding catching up, read from the hub's /metrics while it runs.
 *
 * Then checked, after everything stopped: the hub's database holds every record exactly once,
 * per device seq 1..N without a gap, stored (rowid order) in seq order, and the same records
 * (seq and id) each outbox marks delivered; no outbox row is left undelivered or refused; the
 * province accepted each evaluation once. Exit code 1 if any check fails.
 *
 * The evaluators run in `--processes` child processes (bench/backlog-devices.ts), each a share
 * of the devices with their real key file, outbox and link (device/). Everything lives in one
 * directory under the OS temp dir (~1.5 GB at full size), removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry } from '../hub/registry/registry.js';
import { checkHubDb, type OutboxCheck } from './backlog-checks.js';
import { openHubDb } from '../hub/store/db.js';
import { hashDeviceSecret } from '../hub/util/secrets.js';
import { freePort, spawnCli, stopProcess, waitHttpOk } from '../simulator/processes.js';
import { benchHubArgs } from './hub-args.js';
import { cpuSecondsOf, rssMiB } from './proc-stats.js';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '400' },
    records: { type: 'string', default: '2000' },
    processes: { type: 'string', default: '4' },
    /** Give up (and fail) when not everything is acknowledged and forwarded after this many seconds. */
    timeout: { type: 'string', default: '1800' },
    /** Keep the directory (outboxes, hub and province databases, logs) for a look afterwards. */
    keep: { type: 'boolean', default: false },
    /** Write V8 CPU profiles (node --cpu-prof) of the hub and of each device process into this directory. */
    profile: { type: 'string' },
  },
});
const DEVICES = Number(args.devices);
const RECORDS = Number(args.records);
const PROCESSES = Math.max(1, Math.min(Number(args.processes), DEVICES));
const TIMEOUT_S = Number(args.timeout);
const TOTAL = DEVICES * RECORDS;
const HALL = 'bench-hall';
const ADMIN = 'bench-admin';
const here = dirname(fileURLToPath(import.meta.url));
const err = (s: string) => process.stderr.write(s + '\n');

interface DeviceInfo {
  id: string;
  publicKey: string;
  password: string;
}
type Msg =
  | ({ type: 'device' } & DeviceInfo)
  | { type: 'prefilled'; seconds: number }
  | { type: 'drained'; at: number }
  | { type: 'progress'; acked: number; ackCommits: number; rejected: number; connected: number; rssMiB: number }
  | { type: 'verified'; devices: OutboxCheck[]; linkLog: Record<string, number> };

/** A device process and what it last said. */
class Worker {
  readonly child: ChildProcess;
  last: Extract<Msg, { type: 'progress' }> = {
    type: 'progress',
    acked: 0,
    ackCommits: 0,
    rejected: 0,
    connected: 0,
    rssMiB: 0,
  };
  private waiters: { type: Msg['type']; resolve: (m: Msg) => void }[] = [];
  readonly devices: DeviceInfo[] = [];
  drainedAt: number | null = null;

  constructor(dir: string, from: number, count: number) {
    this.child = spawn(
      process.execPath,
      [
        ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : []),
        join(here, 'backlog-devices.js'),
        '--dir',
        dir,
        '--from',
        String(from),
        '--count',
        String(count),
        '--records',
        String(RECORDS),
        '--hall',
        HALL,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Msg;
      if (m.type === 'device') this.devices.push(m);
      if (m.type === 'progress') this.last = m;
      if (m.type === 'drained') this.drainedAt = m.at;
      this.waiters = this.waiters.filter((w) => (w.type === m.type ? (w.resolve(m), false) : true));
    });
  }

  next<T extends Msg['type']>(type: T): Promise<Extract<Msg, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ type, resolve: resolve as (m: Msg) => void });
      this.child.once('exit', (code) => reject(new Error(`device process exited (${code}) before saying "${type}"`)));
    });
  }

  send(o: object): void {
    this.child.stdin!.write(JSON.stringify(o) + '\n');
  }
}

/** The figures the bench reads from the hub's Prometheus text. */
interface Sample {
  t: number;
  acked: number;
  stored: number;
  forwarded: number;
  forwardBacklog: number;
  connected: number;
  duplicates: number;
  hubRssMiB: number;
  /** How far the hall page (facts, 差评 work orders) is behind the stored records, s. */
  hallPageLagS: number;
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function duplicatesOf(text: string): number {
  const m = /^hcp_ingest_rejected_total\{reason="duplicate"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

const freeGiB = (path: string) => {
  const s = statfsSync(path);
  return +((s.bavail * s.bsize) / 2 ** 30).toFixed(1);
};

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-backlog-'));
  const children: ChildProcess[] = [];
  const failures: string[] = [];
  const load = [loadavg()[0]!];
  // Ctrl-C or a timeout(1) mid-run: the hub, province and device processes go, and ~1.5 GB with them.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      err(`${sig}: stopping`);
      cleanUp();
      process.exit(130);
    });
  err(`backlog bench in ${dir}: ${DEVICES} devices × ${RECORDS} records in ${PROCESSES} device processes; ${freeGiB(dir)} GiB free there`);
  try {
    // The stand-in province: up all week, waiting for the hall's evaluations.
    const provincePort = await freePort();
    const province = spawnCli(
      ['province', '--port', String(provincePort), '--db', join(dir, 'province.db'), '--log-level', 'warn'],
      join(dir, 'province.log'),
    );
    children.push(province);
    const provinceUrl = `http://127.0.0.1:${provincePort}`;

    // The evaluators, each with a week of undelivered ratings.
    const tPrefill = performance.now();
    const workers: Worker[] = [];
    const per = Math.ceil(DEVICES / PROCESSES);
    for (let from = 0; from < DEVICES; from += per) workers.push(new Worker(dir, from, Math.min(per, DEVICES - from)));
    children.push(...workers.map((w) => w.child));
    await Promise.all(workers.map((w) => w.next('prefilled')));
    const prefillS = (performance.now() - tPrefill) / 1000;
    const devices = workers.flatMap((w) => w.devices);
    err(`prefilled ${devices.length} outboxes with ${TOTAL.toLocaleString('en-US')} signed records in ${prefillS.toFixed(1)} s`);
    await waitHttpOk(`${provinceUrl}/api/health`, 30_000, province);

    // The hub knows every device: its public key and the hash of its own MQTT secret.
    const hubData = join(dir, 'hub');
    mkdirSync(hubData, { recursive: true });
    const db = openHubDb(join(hubData, 'hub.db'));
    const registry = new Registry(db, HALL);
    const hashes = new Map(devices.map((d) => [d.id, hashDeviceSecret(d.password)]));
    db.transaction(() => {
      const enrol = db.prepare('UPDATE devices SET public_key = ?, secret_hash = ?, enrolled_at = ?, enrol_token_hash = NULL WHERE id = ?');
      for (const d of devices) {
        registry.add({ id: d.id, window: d.id.slice(3), settings: { mode: 'walk-up' } });
        enrol.run(d.publicKey, hashes.get(d.id), Date.now(), d.id);
      }
    })();
    db.close();

    // The hub comes back.
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const hub = spawnCli(
      benchHubArgs({ data: hubData, hall: HALL, mqttPort, httpPort }, '--province-url', `${provinceUrl}/api/evaluations`),
      join(dir, 'hub.log'),
      { HCP_ADMIN_TOKEN: ADMIN },
      args.profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] } : {},
    );
    children.push(hub);
    const hubUrl = `http://127.0.0.1:${httpPort}`;
    await waitHttpOk(`${hubUrl}/api/health`, 60_000, hub);
    const scrape = async () =>
      (await fetch(`${hubUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(10_000) })).text();

    // Every link at once.
    load.push(loadavg()[0]!);
    const t0 = performance.now();
    const goAt = Date.now();
    // Where the CPU went during the drain: hub, device processes, province, this process.
    const cpuOf = () => ({
      hub: cpuSecondsOf(hub.pid),
      devices: workers.reduce((n, w) => n + cpuSecondsOf(w.child.pid), 0),
      province: cpuSecondsOf(province.pid),
      bench: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    });
    const cpu0 = cpuOf();
    let cpuDrain: ReturnType<typeof cpuOf> | null = null;
    for (const w of workers) w.send({ cmd: 'go', url: `mqtt://127.0.0.1:${mqttPort}` });
    const samples: Sample[] = [];
    let allAckedS: number | null = null;
    let allConnectedS: number | null = null;
    let caughtUpS: number | null = null;
    let lastPrint = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      if (hub.exitCode !== null || hub.signalCode !== null) throw new Error('the hub died (see hub.log)');
      const t = (performance.now() - t0) / 1000;
      const acked = workers.reduce((n, w) => n + w.last.acked, 0);
      const connectedLinks = workers.reduce((n, w) => n + w.last.connected, 0);
      let text = '';
      try {
        text = await scrape();
      } catch {
        /* a busy hub answered late: this second has no hub figures */
      }
      const s: Sample = {
        t: +t.toFixed(1),
        acked,
        stored: metric(text, 'hcp_ratings_stored_total'),
        forwarded: metric(text, 'hcp_forwarded_total'),
        forwardBacklog: metric(text, 'hcp_forward_backlog'),
        connected: metric(text, 'hcp_devices_connected'),
        duplicates: duplicatesOf(text),
        hubRssMiB: rssMiB(hub.pid),
        hallPageLagS: metric(text, 'hcp_hall_page_lag_seconds'),
      };
      if (text) samples.push(s);
      if (allConnectedS === null && connectedLinks === DEVICES) allConnectedS = +t.toFixed(1);
      // To the millisecond: the last device process's own moment, not this 1 s sampling.
      if (allAckedS === null && workers.every((w) => w.drainedAt !== null)) {
        allAckedS = +((Math.max(...workers.map((w) => w.drainedAt!)) - goAt) / 1000).toFixed(2);
        const c = cpuOf();
        cpuDrain = {
          hub: c.hub - cpu0.hub,
          devices: c.devices - cpu0.devices,
          province: c.province - cpu0.province,
          bench: c.bench - cpu0.bench,
        };
      }
      if (caughtUpS === null && text && s.forwarded >= TOTAL && s.forwardBacklog === 0) caughtUpS = +t.toFixed(1);
      if (t - lastPrint >= 5 || (allAckedS !== null && caughtUpS !== null)) {
        lastPrint = t;
        const prev = samples.length > 5 ? samples[samples.length - 6]! : { t: 0, acked: 0, forwarded: 0 };
        err(
          `${t.toFixed(0).padStart(4)} s: acked ${acked} (${Math.round((acked - prev.acked) / (t - prev.t))}/s), links up ${connectedLinks}, ` +
            `hub stored ${s.stored}, forwarded ${s.forwarded} (${Math.round((s.forwarded - prev.forwarded) / (t - prev.t))}/s), ` +
            `forward backlog ${s.forwardBacklog}, hall page ${s.hallPageLagS.toFixed(0)} s behind, duplicates ${s.duplicates}, hub RSS ${s.hubRssMiB} MiB`,
        );
      }
      if (allAckedS !== null && caughtUpS !== null) break;
      if (t > TIMEOUT_S) {
        failures.push(`after ${TIMEOUT_S} s: ${acked} of ${TOTAL} acknowledged, ${s.forwarded} forwarded`);
        break;
      }
    }
    load.push(loadavg()[0]!);

    // Stop everything, then check what each side holds.
    const verified = workers.map((w) => w.next('verified'));
    for (const w of workers) w.send({ cmd: 'stop' });
    const outboxes = await Promise.all(verified);
    const last = samples[samples.length - 1];
    await stopProcess(hub);
    const provinceStats = (await (await fetch(`${provinceUrl}/api/stats`)).json()) as {
      received: number;
      accepted: number;
      duplicatesReceived: number;
    };
    await stopProcess(province);
    await Promise.all(workers.map((w) => (w.child.exitCode === null ? new Promise((r) => w.child.once('exit', r)) : null)));

    const hubCheck = checkHubDb(
      join(hubData, 'hub.db'),
      outboxes.flatMap((o) => o.devices),
      RECORDS,
    );
    failures.push(...hubCheck.failures);
    const outboxRows = outboxes.flatMap((o) => o.devices);
    const undelivered = outboxRows.reduce((n, d) => n + d.pending, 0);
    const refused = outboxRows.reduce((n, d) => n + d.refused, 0);
    const delivered = outboxRows.reduce((n, d) => n + d.delivered, 0);
    const badOutboxes = outboxRows.filter((d) => !d.contiguous || d.rows !== RECORDS || d.delivered !== RECORDS).length;
    if (undelivered || refused || delivered !== TOTAL || badOutboxes)
      failures.push(`outboxes: ${delivered} delivered, ${undelivered} undelivered, ${refused} refused, ${badOutboxes} incomplete`);
    if (provinceStats.accepted !== TOTAL || provinceStats.duplicatesReceived !== 0)
      failures.push(`province accepted ${provinceStats.accepted} of ${TOTAL}, ${provinceStats.duplicatesReceived} received twice`);
    const linkLog: Record<string, number> = {};
    for (const o of outboxes) for (const [k, v] of Object.entries(o.linkLog)) linkLog[k] = (linkLog[k] ?? 0) + v;

    // Records/s per 5 s stretch, for the README's curve.
    const curve: { t: number; ackedPerS: number; forwardedPerS: number; forwardBacklog: number; hallPageLagS: number }[] = [];
    let p = { t: 0, acked: 0, forwarded: 0 };
    for (const s of samples)
      if (s.t - p.t >= 5 || s === last) {
        curve.push({
          t: Math.round(s.t),
          ackedPerS: Math.round((s.acked - p.acked) / (s.t - p.t)),
          forwardedPerS: Math.round((s.forwarded - p.forwarded) / (s.t - p.t)),
          forwardBacklog: s.forwardBacklog,
          hallPageLagS: Math.round(s.hallPageLagS),
        });
        p = s;
      }
    const peakBacklog = samples.reduce((m, s) => Math.max(m, s.forwardBacklog), 0);
    const summary = {
      devices: DEVICES,
      recordsPerDevice: RECORDS,
      records: TOTAL,
      deviceProcesses: PROCESSES,
      prefillS: +prefillS.toFixed(1),
      allConnectedS,
      allAckedS,
      ackedPerS: allAckedS ? Math.round(TOTAL / allAckedS) : null,
      goalAckedS: +((120 * TOTAL) / 800_000).toFixed(1),
      forwardCaughtUpS: caughtUpS,
      forwardedPerS: caughtUpS ? Math.round(TOTAL / caughtUpS) : null,
      forwardBacklogPeak: peakBacklog,
      duplicatesAtHub: last?.duplicates ?? null,
      /** CPU seconds each part used from "go" until every record was acknowledged (2 cores: at most 2 × allAckedS together). */
      cpuSecondsToDrain: cpuDrain && Object.fromEntries(Object.entries(cpuDrain).map(([k, v]) => [k, +v.toFixed(1)])),
      hubRssPeakMiB: samples.reduce((m, s) => Math.max(m, s.hubRssMiB || 0), 0),
      /** Ack messages the devices committed (one fsync each): records per device commit = records / this. */
      deviceAckCommits: workers.reduce((n, w) => n + w.last.ackCommits, 0),
      deviceProcessRssMiB: workers.map((w) => w.last.rssMiB),
      linkWarnings: linkLog,
      hub: hubCheck.figures,
      outboxes: { delivered, undelivered, refused, incomplete: badOutboxes },
      province: {
        received: provinceStats.received,
        accepted: provinceStats.accepted,
        duplicatesReceived: provinceStats.duplicatesReceived,
      },
      loadAverage: { start: load[0], go: load[1], drained: load[2], end: loadavg()[0] },
      curve,
      failures,
    };
    console.log(JSON.stringify(summary));
    return failures.length ? 1 : 0;
  } finally {
    cleanUp();
  }
  function cleanUp(): void {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    err(`${freeGiB(dir)} GiB free before removing ${dir}`);
    if (args.keep) err(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
