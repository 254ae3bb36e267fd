/**
 * `npm run bench`: every benchmark in a short mode (a few minutes on a laptop), one after the
 * other (never two at once: each compares itself with a baseline measured in the same run, and
 * a neighbour would skew one side), then one table of the headline figures, each beside its
 * same-run baseline and the issue-14 goal. Full modes: bench/README.md. `--full` runs each
 * bench's full mode instead; `--only hub,device` a subset. Exit code 1 if a bench failed.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { full: { type: 'boolean', default: false }, only: { type: 'string' } } });
const here = dirname(fileURLToPath(import.meta.url));

interface Row {
  bench: string;
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
}

interface Bench {
  name: string;
  script: string;
  short: string[];
  full: string[];
  /** Headline rows from the bench's output. */
  rows(out: string): Row[];
}

/** The last JSON object a bench printed (single line or pretty-printed at the end). */
function lastJson<T>(out: string): T {
  const lines = out.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]!.startsWith('{')) continue;
    try {
      return JSON.parse(lines.slice(i).join('\n')) as T;
    } catch {
      /* a line that only starts like JSON: keep looking */
    }
  }
  throw new Error('no JSON summary in the output');
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const ratio = (a: number, b: number) => f(a / b, 2) + '×';

const BENCHES: Bench[] = [
  {
    name: 'device',
    script: 'device-latency.js',
    short: ['--presses', '300'],
    full: [],
    rows(out) {
      const r = lastJson<{
        bareInsertFullSync: { medianMs: number; p99Ms: number };
        pressToThanksInAgent: { medianMs: number; p99Ms: number };
        pressToThanksProcess: { medianMs: number; p99Ms: number };
        pressToThanksInAgentIdle: { medianMs: number; p99Ms: number };
        pressToThanksProcessIdle: { medianMs: number; p99Ms: number };
        rssIdleMiB: number;
        rssUnderLoadMiB: number;
        startToReadyMs: number;
      }>(out);
      return [
        {
          bench: 'device',
          figure: 'press → thank-you in agent (paced), p50 / p99 ms',
          value: `${f(r.pressToThanksInAgent.medianMs, 2)} / ${f(r.pressToThanksInAgent.p99Ms, 2)}`,
          baseline: `${f(r.bareInsertFullSync.medianMs, 2)} / ${f(r.bareInsertFullSync.p99Ms, 2)} (bare FULL insert)`,
          ratio: ratio(r.pressToThanksInAgent.p99Ms, r.bareInsertFullSync.p99Ms),
          goal: '',
        },
        {
          bench: 'device',
          figure: 'press → thank-you through the process, p50 / p99 ms',
          value: `${f(r.pressToThanksProcess.medianMs, 2)} / ${f(r.pressToThanksProcess.p99Ms, 2)}`,
          baseline: `${f(r.pressToThanksInAgent.p99Ms, 2)} (in-agent p99)`,
          ratio: ratio(r.pressToThanksProcess.p99Ms, r.pressToThanksInAgent.p99Ms),
          goal: 'p99 ≤ 2× in-agent',
        },
        {
          bench: 'device',
          figure: 'the same, a press on an idle agent (20 ms after the last thank-you), p50 / p99 ms',
          value: `${f(r.pressToThanksProcessIdle.medianMs, 2)} / ${f(r.pressToThanksProcessIdle.p99Ms, 2)}`,
          baseline: `${f(r.pressToThanksInAgentIdle.p99Ms, 2)} (in-agent p99, idle)`,
          ratio: ratio(r.pressToThanksProcessIdle.p99Ms, r.pressToThanksInAgentIdle.p99Ms),
          goal: '',
        },
        { bench: 'device', figure: 'agent RSS idle, MiB', value: f(r.rssIdleMiB), baseline: '', ratio: '', goal: '≤ 60' },
        { bench: 'device', figure: 'agent RSS under load, MiB', value: f(r.rssUnderLoadMiB), baseline: '', ratio: '', goal: '≤ 70' },
        {
          bench: 'device',
          figure: 'agent start to first prompt, ms',
          value: String(r.startToReadyMs),
          baseline: '',
          ratio: '',
          goal: '≤ 1000',
        },
      ];
    },
  },
  {
    name: 'hub',
    script: 'hub-ingest.js',
    short: ['--devices', '200', '--records', '10'],
    full: ['--devices', '1000', '--records', '10'],
    rows(out) {
      type R = { perS: number; p50: number; connectS: number; rssIdleMiB: number; rssPeakMiB: number };
      const r = lastJson<{
        devices: number;
        rawAedes: R;
        floorAedesCheck: R;
        peerMosquittoSqlite: R;
        hub: R & { stored: number };
        reconnectStorm: { seconds: number; hubRssConnectedMiB: number };
      }>(out);
      const n = r.devices;
      return [
        {
          bench: 'hub',
          figure: `ingest records/s (${n} devices)`,
          value: String(r.hub.perS),
          baseline: `${r.rawAedes.perS} raw aedes; ${r.peerMosquittoSqlite.perS} mosquitto+SQLite peer; ${r.floorAedesCheck.perS} aedes + the hub's check alone (floor)`,
          ratio: `${ratio(r.hub.perS, r.rawAedes.perS)} raw, ${ratio(r.hub.perS, r.peerMosquittoSqlite.perS)} peer (floor ${ratio(r.floorAedesCheck.perS, r.peerMosquittoSqlite.perS)} peer)`,
          goal: '≥ 0.6× raw, ≥ 1× peer',
        },
        {
          bench: 'hub',
          figure: 'ack latency p50, ms',
          value: f(r.hub.p50, 0),
          baseline: `${f(r.rawAedes.p50, 0)} raw aedes`,
          ratio: ratio(r.hub.p50, r.rawAedes.p50),
          goal: '≤ 2× raw',
        },
        {
          bench: 'hub',
          figure: `connecting all ${n} devices (50 at a time), s`,
          value: f(r.hub.connectS),
          baseline: `${f(r.rawAedes.connectS)} raw aedes`,
          ratio: ratio(r.hub.connectS, r.rawAedes.connectS),
          goal: '',
        },
        {
          bench: 'hub',
          figure: `reconnect storm: all ${n} at once after a hub restart, s`,
          value: f(r.reconnectStorm.seconds),
          baseline: '',
          ratio: '',
          goal: '1,000 in ≤ 5 s',
        },
        {
          bench: 'hub',
          figure: `hub RSS with ${n} devices idle / peak / after the storm, MiB`,
          value: `${r.hub.rssIdleMiB} / ${r.hub.rssPeakMiB} / ${r.reconnectStorm.hubRssConnectedMiB}`,
          baseline: `${r.rawAedes.rssIdleMiB} / ${r.rawAedes.rssPeakMiB} raw aedes`,
          ratio: '',
          goal: '≤ 200 at 1,000',
        },
      ];
    },
  },
  {
    name: 'forward',
    script: 'forward.js',
    short: ['--count', '5000', '--batches', '1,50,200', '--json'],
    full: ['--json'],
    rows(out) {
      const r = lastJson<{ rows: { batch: number; rawEvalsPerS: number; fwdEvalsPerS: number }[] }>(out);
      return r.rows.map((x) => ({
        bench: 'forward',
        figure: `forwarded evaluations/s, batch ${x.batch}`,
        value: f(x.fwdEvalsPerS, 0),
        baseline: `${f(x.rawEvalsPerS, 0)} raw keep-alive loop`,
        ratio: ratio(x.fwdEvalsPerS, x.rawEvalsPerS),
        goal: x.batch === 1 ? '≥ 0.6×' : '≥ 0.8×',
      }));
    },
  },
  {
    name: 'backlog',
    script: 'backlog.js',
    short: ['--devices', '40', '--records', '250', '--processes', '2'],
    full: [],
    rows(out) {
      const r = lastJson<{
        devices: number;
        records: number;
        allAckedS: number | null;
        ackedPerS: number | null;
        goalAckedS: number;
        forwardCaughtUpS: number | null;
        forwardBacklogPeak: number;
        failures: string[];
      }>(out);
      const n = `${r.devices} devices, ${r.records.toLocaleString('en-US')} records`;
      return [
        {
          bench: 'backlog',
          figure: `hall backlog all acked, s (${n})`,
          value: `${f(r.allAckedS ?? NaN)} (${r.ackedPerS ?? '—'}/s)`,
          baseline: '',
          ratio: '',
          goal: `≤ 120 s for 800,000 (${r.goalAckedS} s at this size)`,
        },
        {
          bench: 'backlog',
          figure: 'province forwarding caught up, s',
          value: f(r.forwardCaughtUpS ?? NaN),
          baseline: `forward backlog peak ${r.forwardBacklogPeak}`,
          ratio: '',
          goal: r.failures.length ? `CHECKS FAILED: ${r.failures.join('; ')}` : 'order kept, nothing twice: checked',
        },
      ];
    },
  },
  {
    name: 'signatures',
    script: 'signatures.js',
    short: ['--records', '2000', '--rounds', '3'],
    full: [],
    rows(out) {
      const r = lastJson<{ backend: string; usPerSignature: Record<string, number>; opensslOverLibsodium?: number }>(out);
      return [
        {
          bench: 'signatures',
          figure: `Ed25519 check of a record, µs (the hub uses ${r.backend})`,
          value: f(r.usPerSignature[r.backend] ?? NaN),
          baseline: `${f(r.usPerSignature.openssl ?? NaN)} (OpenSSL)`,
          ratio: r.opensslOverLibsodium ? `${f(1 / r.opensslOverLibsodium, 2)}×` : '—',
          goal: '',
        },
      ];
    },
  },
  {
    name: 'commit',
    script: 'group-commit.js',
    short: ['--devices', '100', '--records', '100'],
    full: [],
    rows(out) {
      const r = lastJson<{
        maxBatch: number;
        hub: { commitUsPerRecord: number; walPagesPerRecord: number };
        bare: { commitUsPerRecord: number; walPagesPerRecord: number };
        hubOverBare: number;
      }>(out);
      return [
        {
          bench: 'commit',
          figure: `group commit on the ingest thread, µs / record (batches of ${r.maxBatch}); WAL pages / record`,
          value: `${f(r.hub.commitUsPerRecord)}; ${f(r.hub.walPagesPerRecord, 2)}`,
          baseline: `${f(r.bare.commitUsPerRecord)}; ${f(r.bare.walPagesPerRecord, 2)} (bare insert, two keys)`,
          ratio: `${f(r.hubOverBare, 2)}×`,
          goal: '',
        },
      ];
    },
  },
  {
    name: 'web',
    script: 'web-stats.js',
    short: ['--ratings', '100000', '--windows', '100', '--runs', '3'],
    full: [],
    rows(out) {
      const m = /- GET \/stats\?preset=year \(grain month\): ([\d.]+) ms \(max ([\d.]+) ms\)/.exec(out);
      const ratings = /# hall page benchmark: ([\d,]+) ratings/.exec(out)?.[1] ?? '?';
      return [
        {
          bench: 'web',
          figure: `/stats?preset=year median (max), ms, ${ratings} ratings`,
          value: m ? `${m[1]} (${m[2]})` : 'see output',
          baseline: '',
          ratio: '',
          goal: '≤ 150 at 5 M',
        },
      ];
    },
  },
  {
    name: 'ledger',
    script: 'ledger-verify.js',
    short: ['--ratings', '20000', '--devices', '20', '--days', '10'],
    full: [],
    rows(out) {
      const m = /= (\d+) ratings per CPU-second; rss (\d+) MiB; (.*)$/m.exec(out);
      return [
        {
          bench: 'ledger',
          figure: 'ledger verify, ratings per CPU-second',
          value: m?.[1] ?? '?',
          baseline: '',
          ratio: '',
          goal: m?.[3] ?? '',
        },
      ];
    },
  },
  {
    name: 'epaper',
    script: 'epaper-latency.js',
    short: ['--presses', '20'],
    full: [],
    rows(out) {
      const r = lastJson<{
        durable: { p50: number; p99: number };
        thanksOnPanel: { p50: number; p99: number };
        bareInsert: { p50: number; p99: number };
      }>(out);
      return [
        {
          bench: 'epaper',
          figure: 'press → durable, p50 / p99 ms',
          value: `${f(r.durable.p50)} / ${f(r.durable.p99)}`,
          baseline: `${f(r.bareInsert.p50)} / ${f(r.bareInsert.p99)} bare insert`,
          ratio: '',
          goal: '',
        },
        {
          bench: 'epaper',
          figure: 'press → thank-you in panel RAM, p50 / p99 ms',
          value: `${f(r.thanksOnPanel.p50)} / ${f(r.thanksOnPanel.p99)}`,
          baseline: '',
          ratio: '',
          goal: '',
        },
      ];
    },
  },
];

function run(script: string, argv: string[]): Promise<{ code: number | null; out: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(here, script), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      process.stderr.write(c); // the bench's own report, as it goes
    });
    child.once('close', (code) => res({ code, out, seconds: (performance.now() - t0) / 1000 }));
  });
}

const only = args.only?.split(',');
const rows: Row[] = [];
const load0 = loadavg()[0]!;
let failed = 0;
for (const b of BENCHES.filter((x) => !only || only.includes(x.name))) {
  const argv = args.full ? b.full : b.short;
  process.stderr.write(`\n=== bench ${b.name}: node dist/bench/${b.script} ${argv.join(' ')}\n`);
  const r = await run(b.script, argv);
  try {
    if (r.code !== 0) throw new Error(`exit code ${r.code}`);
    rows.push(...b.rows(r.out));
  } catch (e) {
    failed++;
    rows.push({ bench: b.name, figure: 'FAILED', value: (e as Error).message, baseline: '', ratio: '', goal: '' });
  }
  process.stderr.write(`=== bench ${b.name}: ${r.seconds.toFixed(0)} s\n`);
}

const cols: (keyof Row)[] = ['bench', 'figure', 'value', 'baseline', 'ratio', 'goal'];
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
const fmt = (r: Record<keyof Row, string>) => '| ' + cols.map((c, i) => r[c].padEnd(width[i]!)).join(' | ') + ' |';
console.log(
  `\n${args.full ? 'full' : 'short'} mode; load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`,
);
console.log(
  fmt({ bench: 'bench', figure: 'figure', value: 'value', baseline: 'same-run baseline', ratio: 'ratio', goal: 'goal (issue 14)' }),
);
console.log('|' + width.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(fmt(r));
process.exitCode = failed ? 1 : 0;
