/**
 * Forwarding throughput to the stand-in province over loopback, by batch size, beside the
 * stand-in's raw rate measured in the same run: a plain keep-alive client loop that POSTs the
 * same bodies (as bytes) with one request in flight, as the forwarder does. The ratio is the
 * forwarder's own cost: reading the queue, building the body, marking rows done (one commit per
 * batch, no fsync). CPU per evaluation of both sides is printed too: on a loaded machine it says
 * more than wall time, and it shows how much of a batch is the stand-in's own work.
 *
 *   npm run bench:forward                      # 50,000 evaluations, batches 1/50/200/1000, native profile
 *   node dist/bench/forward.js --count 5000 --batches 1,200 --profile common
 *   node dist/bench/forward.js --count 5000 --rounds 3   # on a busy machine: medians of 3 alternating rounds
 *
 * Each measurement gets a fresh stand-in province process (`haochaping province`, SQLite file,
 * WAL) so neither side finds the other's rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Agent, request } from 'undici';
import { generateDeviceKeys, GENESIS_HASH, newRecordId, recordHash, signRecord, type Level, type RatingRecord } from '../protocol/index.js';
import { evaluationFromRecord, type Evaluation } from '../hub/forwarder/evaluation.js';
import { enqueueEvaluation, Forwarder } from '../hub/forwarder/forwarder.js';
import { buildRequestBody, mapEvaluation, type MappingContext } from '../hub/forwarder/mapping.js';
import { loadProfile, type Profile } from '../hub/forwarder/profile.js';
import { HttpTransport } from '../hub/forwarder/transport/http.js';
import type { Transport } from '../hub/forwarder/transport/types.js';
import { createMetrics } from '../hub/metrics.js';
import { openHubDb } from '../hub/store/db.js';
import { freePort, spawnCli, stopProcess, waitHttpOk } from '../simulator/processes.js';
import { cpuSecondsOf, ownCpuSeconds } from './proc-stats.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '50000' },
    batches: { type: 'string', default: '1,50,200,1000' },
    profile: { type: 'string', default: 'native' },
    rounds: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const COUNT = Number(args.count);
const BATCHES = args.batches!.split(',').map(Number);
const ROUNDS = Math.max(1, Number(args.rounds));
const profile: Profile = loadProfile(args.profile!);
const CTX: MappingContext = { areaCode: '420100', deptCode: '11420100MB0000000X' };
const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-fwd-'));
const silent = pino({ level: 'silent' });

/**
 * Real signed device records, as ingest would queue them (10 devices, chained), each kept as its
 * JSON bytes and parsed where it is used, outside the timed runs. Kept as objects, 50,000
 * evaluations were ~100 MB of this process's heap, which every major GC inside a timed run
 * walked: the forwarder allocates more per evaluation than the raw loop, so it paid for that
 * (garbage collection 6 % of a batch-50 run's profile in one run, 0.7 % in another, the
 * forwarder's CPU 66 against 48 µs an evaluation).
 */
function evaluations(n: number): Buffer[] {
  const devices = Array.from({ length: 10 }, (_, i) => ({
    id: `ev-${String(i + 1).padStart(3, '0')}`,
    keys: generateDeviceKeys(),
    seq: 0,
    prev: GENESIS_HASH,
  }));
  const out: Buffer[] = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const d = devices[i % devices.length]!;
    const level = ([5, 5, 5, 4, 4, 3, 2, 1] as Level[])[i % 8]!;
    const r: RatingRecord = signRecord(
      {
        v: 1,
        id: newRecordId(),
        hall: 'bench-hall',
        device: d.id,
        window: String((i % 10) + 1).padStart(2, '0'),
        staffId: 'S042',
        seq: ++d.seq,
        kind: 'rating',
        level,
        reasons: level <= 2 ? [`${level}13`] : [],
        catalogue: 'builtin-2026.1',
        session: {
          id: `s-${i}`,
          cases: [`BJ20261125${String(i).padStart(6, '0')}`],
          itemCode: '11420000MB1234567X',
          itemName: '不动产登记',
        },
        at: t0 + i,
        clockSynced: true,
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        mono: i,
        flags: level <= 2 ? ['no-reason'] : [],
        prev: d.prev,
      },
      d.keys.privateKey,
    );
    d.prev = recordHash(r);
    out.push(Buffer.from(JSON.stringify(evaluationFromRecord(r, t0 + i))));
  }
  return out;
}

const parsed = (b: Buffer) => JSON.parse(b.toString('utf8')) as Evaluation;

/** Wall time and CPU of both sides over one measured run. */
interface Timed {
  seconds: number;
  requests: number;
  /** CPU of this process (the raw loop, or the forwarder with its SQLite work). */
  clientCpuS: number;
  /** CPU of the stand-in province process. */
  provinceCpuS: number;
}

/** Measures `run` (which returns its request count) on both sides' clocks. */
async function timed(provinceCpu: () => number, run: () => Promise<number>): Promise<Timed> {
  const c0 = ownCpuSeconds();
  const p0 = provinceCpu();
  const t0 = performance.now();
  const requests = await run();
  return {
    seconds: (performance.now() - t0) / 1000,
    requests,
    clientCpuS: ownCpuSeconds() - c0,
    provinceCpuS: provinceCpu() - p0,
  };
}

async function withProvince<T>(
  name: string,
  fn: (url: string, provinceCpu: () => number) => Promise<T>,
): Promise<T & { province: { accepted: number; duplicatesReceived: number } }> {
  const port = await freePort();
  const p = spawnCli(
    ['province', '--port', String(port), '--db', join(dir, `${name}.db`), '--profile', args.profile!, '--log-level', 'warn'],
    join(dir, `${name}.log`),
  );
  try {
    await waitHttpOk(`http://127.0.0.1:${port}/api/health`, 30_000, p);
    const r = await fn(`http://127.0.0.1:${port}/api/evaluations`, () => cpuSecondsOf(p.pid));
    const stats = (await (await fetch(`http://127.0.0.1:${port}/api/stats`)).json()) as { accepted: number; duplicatesReceived: number };
    return { ...r, province: stats };
  } finally {
    await stopProcess(p);
  }
}

/**
 * The baseline: pre-built bodies, already UTF-8 bytes (the forwarder sends the native profile's
 * stored JSON as bytes too, so the baseline must not pay an encoding the forwarder skips), one
 * keep-alive connection, one request in flight.
 */
async function raw(url: string, provinceCpu: () => number, es: Buffer[], batch: number): Promise<Timed> {
  const bodies: Buffer[] = [];
  for (let i = 0; i < es.length; i += batch)
    bodies.push(
      Buffer.from(
        buildRequestBody(
          profile,
          es.slice(i, i + batch).flatMap((e) => mapEvaluation(profile, parsed(e), CTX)),
        ),
      ),
    );
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
  const t = await timed(provinceCpu, async () => {
    for (const body of bodies) {
      const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`raw loop: province answered ${res.statusCode}`);
    }
    return bodies.length;
  });
  await agent.close();
  return t;
}

/**
 * The forwarder's own work alone: a transport that answers every evaluation "accepted" on the
 * next turn of the event loop, with no HTTP and no stand-in beside it on the two cores. Its CPU a
 * evaluation is the forwarder's read, body, marks and commits; against the stand-in the same
 * figure is higher and swings with the machine (the eleventh round in bench/README.md).
 */
const answersAtOnce: Transport = {
  kind: 'stub',
  target: 'answers at once',
  async send(_body, keys) {
    await new Promise((resolve) => setImmediate(resolve));
    return { kind: 'answered', results: new Map(keys.map((k) => [k, { status: 'accepted' as const }])) };
  },
  async close() {},
};

/** The forwarder from a hub database holding the whole backlog. */
async function forward(transport: Transport, provinceCpu: () => number, es: Buffer[], batch: number, name: string): Promise<Timed> {
  const db = openHubDb(join(dir, `${name}-hub.db`));
  db.pragma('foreign_keys = OFF'); // the queue rows reference ratings the bench does not store
  db.transaction(() => es.forEach((e) => enqueueEvaluation(db, parsed(e), Date.now())))();
  // The backlog at rest before the clock starts: otherwise the forwarder's first commit would
  // checkpoint the whole setup (~9 MB of WAL, with an fsync) inside the measured run.
  db.pragma('wal_checkpoint(TRUNCATE)');
  const metrics = createMetrics();
  const f = new Forwarder({
    db,
    transport,
    profile,
    context: CTX,
    log: silent,
    metrics,
    batchSize: batch,
    lingerMs: 0,
  });
  // Done the moment the last evaluation is marked forwarded, seen on the in-memory counter as it
  // is counted (the raw loop's clock stops at its last answer too; a poll every 20 ms added 10 ms
  // on average to runs of 300–400 ms). A count(*) of the backlog would run on the forwarder's own
  // thread: the queue itself is checked once at the end, and every 5 s in case one was refused.
  let forwardedSoFar = 0;
  let allForwarded!: () => void;
  const finished = new Promise<void>((resolve) => (allForwarded = resolve));
  const count = metrics.forwarded.inc.bind(metrics.forwarded);
  metrics.forwarded.inc = ((n?: number) => {
    count(n); // the forwarder counts with a plain number
    if ((forwardedSoFar += n ?? 1) >= es.length) allForwarded();
  }) as typeof metrics.forwarded.inc;
  const t = await timed(provinceCpu, async () => {
    f.start();
    const refusedCheck = setInterval(() => f.backlog().count === 0 && allForwarded(), 5000); // the check below fails then
    await finished;
    clearInterval(refusedCheck);
    return (await metrics.registry.getSingleMetric('hcp_forward_requests_total')!.get()).values.reduce((n, v) => n + v.value, 0);
  });
  if (f.backlog().count > 0) throw new Error(`forwarder run: ${f.backlog().count} evaluations still queued`);
  await f.stop();
  db.close();
  return t;
}

interface Row {
  batch: number;
  rawEvalsPerS: number;
  rawReqPerS: number;
  fwdEvalsPerS: number;
  fwdReqPerS: number;
  ratio: number;
  /** CPU per evaluation, µs: the stand-in in the raw run, the raw loop, the forwarder (this process), the stand-in in the forwarder run. */
  cpuUs: { provinceRaw: number; rawLoop: number; forwarder: number; provinceFwd: number };
  /** With --rounds: each round's forwarder / raw (the figures above are medians). */
  ratios?: number[];
  /** The forwarder's CPU per evaluation with a transport that answers at once (answersAtOnce), µs; one run. */
  aloneCpuUs: number;
}

const rows: Row[] = [];
try {
  process.stderr.write(`generating ${COUNT} signed evaluations…\n`);
  const es = evaluations(COUNT);
  for (const batch of BATCHES) {
    // Each round measures both, in turn (the order alternates, so a machine getting busier or
    // quieter favours neither); with several rounds the median of each figure is reported.
    const rounds: Omit<Row, 'aloneCpuUs'>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const tag = ROUNDS > 1 ? `${batch}-${round}` : `${batch}`;
      const rawRun = () => withProvince(`raw-${tag}`, (url, cpu) => raw(url, cpu, es, batch));
      const fwdRun = () =>
        withProvince(`fwd-${tag}`, (url, cpu) =>
          forward(new HttpTransport({ url, profile, timeoutMs: 60_000 }), cpu, es, batch, `fwd-${tag}`),
        );
      process.stderr.write(`batch ${batch}${ROUNDS > 1 ? ` round ${round + 1}/${ROUNDS}` : ''}: `);
      let r, f;
      if (round % 2 === 0) {
        r = await rawRun();
        f = await fwdRun();
      } else {
        f = await fwdRun();
        r = await rawRun();
      }
      process.stderr.write(`raw loop ${r.seconds.toFixed(1)} s, forwarder ${f.seconds.toFixed(1)} s\n`);
      if (f.province.accepted !== COUNT || f.province.duplicatesReceived !== 0)
        throw new Error(`forwarder run: province accepted ${f.province.accepted}, duplicates ${f.province.duplicatesReceived}`);
      if (r.province.accepted !== COUNT) throw new Error(`raw run: province accepted ${r.province.accepted}`);
      rounds.push({
        batch,
        rawEvalsPerS: COUNT / r.seconds,
        rawReqPerS: r.requests / r.seconds,
        fwdEvalsPerS: COUNT / f.seconds,
        fwdReqPerS: f.requests / f.seconds,
        ratio: r.seconds / f.seconds,
        cpuUs: {
          provinceRaw: (r.provinceCpuS / COUNT) * 1e6,
          rawLoop: (r.clientCpuS / COUNT) * 1e6,
          forwarder: (f.clientCpuS / COUNT) * 1e6,
          provinceFwd: (f.provinceCpuS / COUNT) * 1e6,
        },
      });
    }
    const alone = await forward(answersAtOnce, () => 0, es, batch, `alone-${batch}`);
    process.stderr.write(`batch ${batch}: the forwarder alone ${alone.seconds.toFixed(1)} s\n`);
    const mid = (pick: (r: Omit<Row, 'aloneCpuUs'>) => number) => median(rounds.map(pick));
    rows.push({
      batch,
      rawEvalsPerS: mid((r) => r.rawEvalsPerS),
      rawReqPerS: mid((r) => r.rawReqPerS),
      fwdEvalsPerS: mid((r) => r.fwdEvalsPerS),
      fwdReqPerS: mid((r) => r.fwdReqPerS),
      ratio: mid((r) => r.ratio),
      cpuUs: {
        provinceRaw: mid((r) => r.cpuUs.provinceRaw),
        rawLoop: mid((r) => r.cpuUs.rawLoop),
        forwarder: mid((r) => r.cpuUs.forwarder),
        provinceFwd: mid((r) => r.cpuUs.provinceFwd),
      },
      ...(ROUNDS > 1 ? { ratios: rounds.map((r) => r.ratio) } : {}),
      aloneCpuUs: (alone.clientCpuS / COUNT) * 1e6,
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const header = [
  'batch',
  'raw loop eval/s',
  'raw loop req/s',
  'forwarder eval/s',
  'forwarder req/s',
  'forwarder / raw',
  'CPU µs/eval: stand-in / raw loop | forwarder / stand-in',
  'forwarder alone, CPU µs/eval',
];
const us = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '?');
const table = rows.map((r) => [
  String(r.batch),
  n(r.rawEvalsPerS),
  n(r.rawReqPerS),
  n(r.fwdEvalsPerS),
  n(r.fwdReqPerS),
  `${(r.ratio * 100).toFixed(0)} %${r.ratios ? ` (${r.ratios.map((x) => (x * 100).toFixed(0)).join(', ')})` : ''}`,
  `${us(r.cpuUs.provinceRaw)} / ${us(r.cpuUs.rawLoop)} | ${us(r.cpuUs.forwarder)} / ${us(r.cpuUs.provinceFwd)}`,
  r.aloneCpuUs.toFixed(1),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
console.log(
  `\nforwarding ${n(COUNT)} evaluations (${profile.name} profile) to the stand-in province over loopback; node ${process.version}` +
    (ROUNDS > 1 ? `; median of ${ROUNDS} rounds (each round's ratio in brackets)` : ''),
);
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`);
for (const t of table) console.log(line(t));
if (args.json) console.log(JSON.stringify({ count: COUNT, profile: profile.name, rows }));
