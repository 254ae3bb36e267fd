/**
 * Hub ingest throughput and ack latency with 1,000 devices connected at once, beside raw
 * aedes QoS 1 pass-through measured in the same run on the same machine; and the hub's
 * resident memory with 1,000 devices. Run: `npm run bench:hub` (options: --devices N
 * --records N --window N).
 *
 * Both brokers run as their own process (the hub through the real CLI), the 1,000 mqtt.js
 * clients in this one. Each device sends its records like the real link does: signed,
 * chained, QoS 1, at most `window` unacknowledged; a record counts when its ack arrives —
 * for the hub that is the application ack sent after the SQLite commit, for raw aedes an
 * immediate echo. The ratio of the two is the figure: what authentication, the ACL,
 * signature and chain checks and a durable group commit cost on top of the broker.
 *
 * In the same run, two more: the floor — the same echo, but every message first passes the
 * hub's own per-record check (decode, schema, signature, hash; bench/raw-aedes-echo.ts --check)
 * — and the peer a hall would otherwise assemble (bench/peer-mosquitto.ts). The floor's rate is
 * the most a hub on aedes that checks every signature can reach on a machine whose cores the
 * clients share (throughput follows CPU a record), storing nothing.
 *
 * The hub's devices are provisioned straight into its database with one shared secret hash
 * (hub/util/secrets.ts's device form); every connect is still checked.
 *
 * Then the reconnect storm: the hub is stopped and started again on the same database, and all
 * devices connect at once (not 50 at a time), as a hall's evaluators do after a hub restart;
 * the figure is the time until every one is connected and subscribed, and the hub's resident
 * memory with all of them connected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { exportPublicKey, generateDeviceKeys, GENESIS_HASH, recordHash, topic, type Level, type RatingRecord } from '../protocol/index.js';
import { Registry } from '../hub/registry/registry.js';
import { openHubDb } from '../hub/store/db.js';
import { hashDeviceSecret } from '../hub/util/secrets.js';
import { freePort, spawnCli, stopProcess, waitHttpOk } from '../simulator/processes.js';
import { benchHubArgs } from './hub-args.js';
import { cpuSecondsOf, ownCpuSeconds, rssMiB as procRssMiB, untilIdle } from './proc-stats.js';
import { walkUpRating } from './walk-up-record.js';
import { percentile } from './stats.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const DEVICES = arg('devices', 1000);
const RECORDS = arg('records', 10);
const WINDOW = arg('window', 4);
const HALL = 'bench-hall';
/** --verify-workers N: passed to the hub (default: the hub's own default). */
const VERIFY_WORKERS = process.argv.includes('--verify-workers') ? process.argv[process.argv.indexOf('--verify-workers') + 1] : undefined;
/** --profile DIR: the hub process writes a V8 CPU profile there (node --cpu-prof) when it stops. */
const PROFILE_DIR = process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1] : undefined;

interface Device {
  id: string;
  password: string;
  records: RatingRecord[];
  /** SPKI base64, as registered at enrolment. */
  publicKey: string;
}

function makeDevices(n: number, perDevice: number, password: string): Device[] {
  const out: Device[] = [];
  for (let i = 0; i < n; i++) {
    const id = `ev-${String(i + 1).padStart(4, '0')}`;
    const keys = generateDeviceKeys();
    let prev = GENESIS_HASH;
    const records: RatingRecord[] = [];
    for (let seq = 1; seq <= perDevice; seq++) {
      // A citizen every 30 s at most (the hub flags a device rating faster than people press).
      const r = walkUpRating(
        {
          hall: HALL,
          device: id,
          seq,
          prev,
          level: ((seq % 5) + 1) as Level,
          at: Date.now() - (perDevice - seq) * 30_000,
          mono: seq * 30_000,
        },
        keys.privateKey,
      );
      prev = recordHash(r);
      records.push(r);
    }
    out.push({ id, password, records, publicKey: exportPublicKey(keys.publicKey) });
  }
  return out;
}

function rssMiB(pid: number): number {
  const r = procRssMiB(pid);
  if (Number.isNaN(r)) throw new Error(`broker process ${pid} is gone: it crashed (see its output above)`);
  return r;
}

interface Result {
  connectS: number;
  records: number;
  seconds: number;
  perS: number;
  p50: number;
  p95: number;
  p99: number;
  rssIdleMiB: number;
  rssPeakMiB: number;
  /**
   * CPU per acknowledged record while the devices sent: the broker side's processes (for the
   * peer mosquitto and its subscriber together), and this process's 1,000 clients. On two cores
   * the three together are what the machine has to give.
   */
  cpuUsPerRecord: { server: number; clients: number };
}

async function connectAll(url: string, devices: Device[], auth: boolean, atOnce = 50): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  // 50 at a time unless told otherwise: for the throughput runs, connecting is not what is measured.
  for (let i = 0; i < devices.length; i += atOnce) {
    const batch = devices.slice(i, i + atOnce);
    clients.push(
      ...(await Promise.all(
        batch.map((d) =>
          mqtt.connectAsync(url, {
            clientId: d.id,
            ...(auth ? { username: d.id, password: d.password } : {}),
            reconnectPeriod: 0,
            keepalive: 120,
            connectTimeout: 60_000,
          }),
        ),
      )),
    );
  }
  await Promise.all(clients.map((c, i) => c.subscribeAsync(topic(HALL, devices[i]!.id, 'ack'), { qos: 1 })));
  return clients;
}

/** Every device sends its records with at most WINDOW unacknowledged; resolves when all are acked. */
async function drive(
  clients: MqttClient[],
  devices: Device[],
  pid: number,
): Promise<{ seconds: number; latencies: number[]; rssPeakMiB: number }> {
  const latencies: number[] = [];
  let peak = rssMiB(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 200);
  const t0 = performance.now();
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          const d = devices[i]!;
          const sentAt = new Map<number, number>();
          let next = 0;
          let acked = 0;
          const pump = () => {
            while (next < d.records.length && sentAt.size < WINDOW) {
              const r = d.records[next++]!;
              sentAt.set(r.seq, performance.now());
              c.publish(topic(HALL, d.id, 'rating'), JSON.stringify(r), { qos: 1 });
            }
          };
          c.on('message', (_t, payload) => {
            const now = performance.now();
            let seqs: number[];
            try {
              const m = JSON.parse(payload.toString()) as { acks?: { seq: number }[]; seq?: number };
              seqs = m.acks ? m.acks.map((a) => a.seq) : [m.seq!]; // hub ack, or the echoed record
            } catch {
              return;
            }
            for (const s of seqs) {
              const t = sentAt.get(s);
              if (t === undefined) continue;
              sentAt.delete(s);
              latencies.push(now - t);
              acked++;
            }
            if (acked === d.records.length) resolve();
            else pump();
          });
          pump();
        }),
    ),
  );
  clearInterval(sampler);
  return { seconds: (performance.now() - t0) / 1000, latencies, rssPeakMiB: peak };
}

/** CPU seconds of these processes together. */
const cpuOf = (pids: number[]) => pids.reduce((sum, p) => sum + cpuSecondsOf(p), 0);

/** `pid`: the broker's process (memory); `serverPids`: every process on the broker side (CPU). */
async function measure(name: string, url: string, pid: number, devices: Device[], auth: boolean, serverPids = [pid]): Promise<Result> {
  const c0 = performance.now();
  const clients = await connectAll(url, devices, auth);
  const connectS = (performance.now() - c0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdleMiB = rssMiB(pid);
  const [server0, own0] = [cpuOf(serverPids), ownCpuSeconds()];
  const { seconds, latencies, rssPeakMiB } = await drive(clients, devices, pid);
  const [serverS, ownS] = [cpuOf(serverPids) - server0, ownCpuSeconds() - own0];
  await Promise.all(clients.map((c) => c.endAsync(true)));
  latencies.sort((a, b) => a - b);
  const r: Result = {
    connectS: +connectS.toFixed(1),
    records: latencies.length,
    seconds: +seconds.toFixed(2),
    perS: Math.round(latencies.length / seconds),
    p50: +percentile(latencies, 50).toFixed(1),
    p95: +percentile(latencies, 95).toFixed(1),
    p99: +percentile(latencies, 99).toFixed(1),
    rssIdleMiB,
    rssPeakMiB,
    cpuUsPerRecord: { server: Math.round((serverS * 1e6) / latencies.length), clients: Math.round((ownS * 1e6) / latencies.length) },
  };
  console.error(`${name}: ${JSON.stringify(r)}`);
  return r;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-'));
  console.error(`preparing ${DEVICES} devices × ${RECORDS} signed records…`);
  const password = 'bench-secret-' + Math.random().toString(36).slice(2);
  const devices = makeDevices(DEVICES, RECORDS, password);

  // Baseline: raw aedes echo; then the same echo behind the hub's own per-record check (the floor).
  const here = dirname(fileURLToPath(import.meta.url));
  const echo = async (name: string, args: string[]): Promise<Result> => {
    const p: ChildProcess = spawn(process.execPath, [join(here, 'raw-aedes-echo.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const info = await new Promise<{ port: number; pid: number }>((res) =>
      p.stdout!.once('data', (b) => res(JSON.parse(String(b)) as { port: number; pid: number })),
    );
    // An echo that exits (the floor refusing a record, --fail-fast) ends the bench rather than leaving it waiting.
    const exited = new Promise<never>((_, reject) =>
      p.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) during the run`))),
    );
    const r = await Promise.race([measure(name, `mqtt://127.0.0.1:${info.port}`, info.pid, devices, false), exited]);
    exited.catch(() => {}); // its exit on the stop below is expected
    await stopProcess(p);
    return r;
  };
  const baseline = await echo('raw aedes QoS 1 echo', []);
  const keysFile = join(dir, 'device-keys.json');
  const keys = Object.fromEntries(devices.map((d) => [d.id, d.publicKey]));
  writeFileSync(keysFile, JSON.stringify({ hall: HALL, keys }));
  const floor = await echo("aedes echo behind the hub's check (floor)", ['--check', keysFile, '--fail-fast']);

  // Peer baseline: mosquitto + one subscriber storing in SQLite group commits, ack after commit.
  const peerDir = join(dir, 'peer');
  mkdirSync(peerDir, { recursive: true });
  const peer: ChildProcess = spawn(process.execPath, [join(here, 'peer-mosquitto.js'), '--data', peerDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const peerInfo = await new Promise<{ port: number; pid: number; subscriberPid: number }>((res) =>
    peer.stdout!.once('data', (b) => res(JSON.parse(String(b)) as { port: number; pid: number; subscriberPid: number })),
  );
  const peerResult = await measure(
    'mosquitto + SQLite subscriber (peer)',
    `mqtt://127.0.0.1:${peerInfo.port}`,
    peerInfo.pid,
    devices,
    false,
    [peerInfo.pid, peerInfo.subscriberPid],
  );
  await stopProcess(peer);

  // The hub, provisioned in its database, run through the real CLI.
  const hubData = join(dir, 'hub');
  mkdirSync(hubData, { recursive: true });
  const db = openHubDb(join(hubData, 'hub.db'));
  const registry = new Registry(db, HALL);
  const hash = hashDeviceSecret(password);
  db.transaction(() => {
    for (const d of devices) {
      registry.add({ id: d.id, window: d.id.slice(3), settings: { mode: 'walk-up' } });
      db.prepare('UPDATE devices SET public_key = ?, secret_hash = ?, enrolled_at = ?, enrol_token_hash = NULL WHERE id = ?').run(
        d.publicKey,
        hash,
        Date.now(),
        d.id,
      );
    }
  })();
  db.close();
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const startHubProcess = async (profile: boolean) => {
    const p = spawnCli(
      benchHubArgs(
        { data: hubData, hall: HALL, mqttPort, httpPort },
        ...(VERIFY_WORKERS === undefined ? [] : ['--verify-workers', VERIFY_WORKERS]),
      ),
      join(dir, 'hub.log'),
      { HCP_ADMIN_TOKEN: 'bench-admin' },
      profile && PROFILE_DIR ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] } : {},
    );
    await waitHttpOk(`http://127.0.0.1:${httpPort}/api/health`, 60_000, p);
    return p;
  };
  const hub = await startHubProcess(true);
  const rssEmpty = rssMiB(hub.pid!);
  const hubResult = await measure('hub ingest', `mqtt://127.0.0.1:${mqttPort}`, hub.pid!, devices, true);
  const stats = (await (
    await fetch(`http://127.0.0.1:${httpPort}/api/stats`, { headers: { authorization: 'Bearer bench-admin' } })
  ).json()) as { stored: number; rejections: Record<string, number> };
  // Stopped once it has finished what it took in (the hall page's catch-up of the burst too), as a
  // hub is at the end of a day: otherwise the restarted hub does that catch-up during the storm,
  // and its memory then is the catch-up's (204–205 MiB against 178 measured on 2026-12-02).
  await untilIdle(hub.pid);
  await stopProcess(hub);

  // The reconnect storm: the hub restarted, every device at once.
  const again = await startHubProcess(false);
  const s0 = performance.now();
  const stormClients = await connectAll(`mqtt://127.0.0.1:${mqttPort}`, devices, true, devices.length);
  const reconnectS = +((performance.now() - s0) / 1000).toFixed(2);
  await new Promise((r) => setTimeout(r, 2000));
  const rssConnectedMiB = rssMiB(again.pid!);
  console.error(`reconnect storm: ${devices.length} devices in ${reconnectS} s; hub RSS with all connected ${rssConnectedMiB} MiB`);
  await Promise.all(stormClients.map((c) => c.endAsync(true)));
  await stopProcess(again);
  rmSync(dir, { recursive: true, force: true });

  const summary = {
    devices: DEVICES,
    recordsPerDevice: RECORDS,
    window: WINDOW,
    rawAedes: baseline,
    floorAedesCheck: floor,
    peerMosquittoSqlite: peerResult,
    hub: { ...hubResult, rssNoDevicesMiB: rssEmpty, stored: stats.stored, rejected: stats.rejections },
    reconnectStorm: { devices: DEVICES, seconds: reconnectS, hubRssConnectedMiB: rssConnectedMiB },
    throughputRatio: +(hubResult.perS / baseline.perS).toFixed(2),
    p50LatencyRatio: +(hubResult.p50 / baseline.p50).toFixed(2),
    hubOverPeer: +(hubResult.perS / peerResult.perS).toFixed(2),
    // Above 1 only if a hub on aedes that checks every signature, storing nothing, could keep up with the peer here.
    floorOverPeer: +(floor.perS / peerResult.perS).toFixed(2),
  };
  console.log(JSON.stringify(summary, null, 2));
  if (stats.stored !== DEVICES * RECORDS) {
    console.error(`hub stored ${stats.stored} of ${DEVICES * RECORDS} records`);
    process.exit(1);
  }
}

await main();
