/**
 * Benchmark: the hall page with years of data for a big hall — 400 windows, 1.5 million ratings
 * a year, generated straight into SQLite as ingest stores them (one transaction per chunk), then
 * taken in by the real catch-up (facts, daily and monthly counts, 差评 work orders, most of them
 * closed through the state machine). Measures the server time of whole pages (statistics for
 * today, the month, the year, a range over years; drill-downs; CSV exports; the device wall; the
 * work-order list) and of each statistic behind the statistics pages, prints SQLite's plan of
 * every statement the pages ran (recorded as they ran, hub/stats/query-plans.ts), and compares
 * against the baseline of counting straight from the stored records.
 *
 *   npm run bench:web                      # 1.5M ratings, one year (about 3–4 minutes on 2 cores)
 *   node dist/bench/web-stats.js --ratings 5000000 --windows 400 --years 3 --keep /tmp/web5m
 *   node dist/bench/web-stats.js --keep /tmp/web5m --reuse    # the pages again, on the kept data
 *
 * Exits non-zero if a page takes a second or more, a plan reads a table of the hall's history
 * without an index, or the kept counts differ from a recount of the facts.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pino from 'pino';

import type { HubEvents } from '../hub/events.js';
import { createMetrics } from '../hub/metrics.js';
import { Registry } from '../hub/registry/registry.js';
import { DeviceStatusStore } from '../hub/status/device-status.js';
import { checkOrderCounts } from '../hub/stats/order-counts.js';
import { checkPlan, StatementRecorder } from '../hub/stats/query-plans.js';
import { openHubDb } from '../hub/store/db.js';
import { HallWeb } from '../hub/web/hall-web.js';
import { FactSync } from '../hub/facts/fact-sync.js';
import { webRoutes } from '../hub/web/routes.js';
import { computeStats, statsRequest } from '../hub/web/stats-view.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    ratings: { type: 'string', default: '1500000' },
    windows: { type: 'string', default: '400' },
    runs: { type: 'string', default: '5' },
    years: { type: 'string', default: '1' },
    keep: { type: 'string' },
    // Measure the pages again on data kept by an earlier run (--keep DIR): no generation, no catch-up.
    reuse: { type: 'boolean', default: false },
    goal: { type: 'string', default: '150' },
  },
});
if (args.reuse && !args.keep) throw new Error('--reuse needs --keep DIR (the directory of an earlier run)');
const dir = args.keep ?? mkdtempSync(join(tmpdir(), 'hcp-bench-web-'));
mkdirSync(dir, { recursive: true });
const metaFile = join(dir, 'bench-meta.json');
const reuse = args.reuse && existsSync(metaFile);
if (args.reuse && !reuse) throw new Error(`--reuse: no earlier run kept in ${dir}`);
const meta = reuse
  ? (JSON.parse(readFileSync(metaFile, 'utf8')) as { ratings: number; windows: number; years: number })
  : { ratings: Number(args.ratings), windows: Number(args.windows), years: Number(args.years) };
const N = meta.ratings;
const WINDOWS = meta.windows;
const YEARS = meta.years;
const RUNS = Number(args.runs);
const GOAL_MS = Number(args.goal);
const NOW = Date.parse('2026-11-20T16:00:00+08:00');
const DAYS = Math.round(YEARS * 365);
const YEAR_MS = 365 * 86_400_000;
const SPAN_MS = DAYS * 86_400_000;

const log = pino({ level: 'warn' });
let t0 = process.hrtime.bigint();
const db = openHubDb(join(dir, 'hub.db'));
// Opening kept data runs any migration added since it was made (what an upgraded hub does).
const openMs = Number(process.hrtime.bigint() - t0) / 1e6;
db.pragma('synchronous = NORMAL'); // generation only; the hub itself runs FULL
// Every statement the parts prepare from here on reports its runs; the pages' are recorded below.
const recorder = new StatementRecorder(db);
const clock = { t: NOW };
const now = () => clock.t;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const line = (s = '') => process.stdout.write(s + '\n');

// ---- generate a year of ratings as ingest stores them
// mulberry32: small, seeded, and uniform in every bit (a plain LCG's low bits are not).
let seed = 12345;
const rnd = (n: number) => {
  let t = (seed = (seed + 0x6d2b79f5) | 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
};
const LEVEL_CUM = [0.6, 0.85, 0.95, 0.98, 1.0]; // 5, 4, 3, 2, 1 as halls report them
const level = () => {
  const u = rnd(10_000) / 10_000;
  return 5 - LEVEL_CUM.findIndex((c) => u < c);
};
const registry = new Registry(db, 'bench-hall', now);
const windowId = (w: number) => String(w + 1).padStart(3, '0');
if (!reuse)
  db.transaction(() => {
    for (let w = 0; w < WINDOWS; w++) {
      registry.add({
        window: windowId(w),
        id: `ev-${windowId(w)}`,
        settings: {
          staff: { id: `S${windowId(w)}a`, name: `员工${windowId(w)}`, number: windowId(w), photo: null },
          windowName: `窗口${windowId(w)}`,
        },
      });
    }
  })();
const insert =
  db.prepare(`INSERT INTO ratings (id, device, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body)
  VALUES (?, ?, ?, 'bench-hall', ?, ?, 'rating', ?, '[]', ?, '[]', ?, 1, ?, ?, ?)`);
const seqs = new Array<number>(WINDOWS).fill(0);
t0 = process.hrtime.bigint();
const BATCH = 50_000;
for (let done = reuse ? N : 0; done < N;) {
  db.transaction(() => {
    for (let i = 0; i < BATCH && done < N; i++, done++) {
      // Spread over the years in time order, within opening hours (08:30–17:30).
      const day = Math.floor((done / N) * DAYS);
      const at = NOW - SPAN_MS + day * 86_400_000 - 7.5 * 3_600_000 + rnd(9 * 3600) * 1000;
      const w = rnd(WINDOWS);
      const wid = windowId(w);
      const seq = ++seqs[w]!;
      const id = `0190${String(done).padStart(8, '0')}-0000-7000-8000-${String(w).padStart(12, '0')}`;
      const staff = `S${wid}${rnd(4) === 0 ? 'b' : 'a'}`;
      const lv = level();
      const item = rnd(10) < 7 ? rnd(300) : -1;
      const session =
        item >= 0
          ? { id: `s${done}`, cases: [`BJ${done}`], itemCode: `1161${String(item).padStart(6, '0')}`, itemName: `事项${item}` }
          : null;
      const body = JSON.stringify({
        v: 1,
        id,
        hall: 'bench-hall',
        device: `ev-${wid}`,
        window: wid,
        staffId: staff,
        seq,
        kind: 'rating',
        level: lv,
        reasons: lv <= 2 ? [`${lv}07`] : [],
        session,
        at,
        clockSynced: true,
        flags: [],
      });
      insert.run(id, `ev-${wid}`, seq, wid, staff, lv, session?.id ?? null, at, at + 200, id.replace(/-/g, '').padEnd(64, '0'), body);
    }
  })();
}
const genMs = ms(t0);

// ---- the real catch-up: facts, daily counts, work orders
const metrics = createMetrics();
const events = new EventEmitter<HubEvents>();
const web = HallWeb.open({
  db,
  registry,
  status: new DeviceStatusStore(db, log, () => {}, now),
  events,
  log,
  metrics,
  config: { policy: 'ankang', alerts: { quietMinutes: 0 } },
  dataDir: dir,
  now,
});
const factSync = new FactSync({ records: web.records, events, log, metrics });
t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const facts = factSync.syncNow();
const catchUpMs = ms(t0);
const cpu = process.cpuUsage(cpu0);
const catchUpCpuMs = (cpu.user + cpu.system) / 1000;
const orders = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM work_orders').get()!.n;

// Most of the year's orders were handled: close all but the last two weeks' through the machine.
t0 = process.hrtime.bigint();
const toClose = db
  .prepare<[number], { id: number; created_at: number }>('SELECT id, created_at FROM work_orders WHERE created_at < ? ORDER BY id')
  .all(reuse ? -1 : NOW - 14 * 86_400_000);
const sup = { name: 'bench', role: 'supervisor' as const };
db.transaction(() => {
  for (const o of toClose) {
    clock.t = o.created_at + 3_600_000;
    web.workOrders.act(o.id, { type: 'confirm', class: 'simple' }, sup);
    clock.t += 86_400_000;
    web.workOrders.act(o.id, { type: 'rectify', note: '已整改' }, sup);
    clock.t += 86_400_000;
    web.workOrders.act(o.id, { type: 'revisit', satisfied: true, note: '满意' }, sup);
  }
})();
clock.t = NOW;
const closeMs = ms(t0);
// No ANALYZE: the hub never gathers statistics, so the plans here are the plans a hall's hub uses.
if (!reuse) writeFileSync(metaFile, JSON.stringify(meta));

// ---- page loads
line(
  `# hall page benchmark: ${N.toLocaleString('en')} ratings, ${WINDOWS} windows, ${YEARS} year(s) (data in ${dir}${reuse ? ', reused' : ''})`,
);
const app = Fastify();
await app.register(webRoutes, web);
await app.ready();
if (!reuse) await web.users.add('bench', { name: 'viewer', role: 'viewer', password: 'bench-password-1' });
const login = await app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'viewer', password: 'bench-password-1' } });
const cookie = String(login.headers['set-cookie']).split(';')[0]!;

const day = (t: number) => new Date(t + 8 * 3_600_000).toISOString().slice(0, 10);
const today = day(NOW);
const yearAgo = day(NOW - YEAR_MS + 86_400_000);
// The longest range the page allows (three years) or all the data, whichever is shorter.
const first = day(NOW - Math.min(SPAN_MS, 3 * 366 * 86_400_000) + 86_400_000);
const span = `${first}..${today}`;
/** Statistics pages: their statistics are timed one by one too. */
const statsPages: Record<string, string> = {
  'GET /stats?preset=year (grain month)': '/stats?preset=year',
  'GET /stats (whole year, by day)': `/stats?from=${yearAgo}&to=${today}&grain=day`,
  'GET /stats?preset=month': '/stats?preset=month',
  'GET /stats?preset=today': '/stats?preset=today',
  [`GET /stats (${span}, by month)`]: `/stats?from=${first}&to=${today}`,
  [`GET /stats (${span}, by week)`]: `/stats?from=${first}&to=${today}&grain=week`,
  'GET /stats drill-down: one window, year by week': '/stats?preset=year&grain=week&dim=window&key=001',
  [`GET /stats drill-down: one window, ${span}`]: `/stats?from=${first}&to=${today}&dim=window&key=001`,
  [`GET /stats drill-down: one staff member, ${span}`]: `/stats?from=${first}&to=${today}&dim=staff&key=S001b`,
  [`GET /stats drill-down: one item, ${span}`]: `/stats?from=${first}&to=${today}&dim=item&key=1161000007`,
  'GET /stats.csv?table=item (year)': '/stats.csv?preset=year&table=item',
  [`GET /stats.csv?table=staff (${span})`]: `/stats.csv?from=${first}&to=${today}&table=staff`,
  [`GET /stats.csv?table=trend (${span}, by day)`]: `/stats.csv?from=${first}&to=${today}&grain=day&table=trend`,
  [`GET /api/hall/stats (${span})`]: `/api/hall/stats?from=${first}&to=${today}`,
};
const otherPages: Record<string, string> = {
  [`GET /wall (${WINDOWS} tiles)`]: '/wall',
  'GET /workorders (open)': '/workorders?state=open',
  'GET /workorders (closed, newest 200)': '/workorders?state=closed',
};
line();
line(`## Page loads (server time, median and max of ${RUNS} runs after one warm-up; goal for statistics pages: median ≤ ${GOAL_MS} ms)`);
const results: Record<string, { median: number; max: number; cpu: number }> = {};
let slow = 0;
const overGoal: string[] = [];
for (const [name, url] of Object.entries({ ...statsPages, ...otherPages })) {
  const times: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t = process.hrtime.bigint();
    const c = process.cpuUsage();
    // The warm-up's statements are recorded for their plans; the timed runs are not (recording costs a little).
    const inject = () => app.inject({ method: 'GET', url, headers: { cookie } });
    const r = await (i === 0 ? recorder.during(inject) : inject());
    if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
    const cu = process.cpuUsage(c);
    if (i > 0) (times.push(ms(t)), cpus.push((cu.user + cu.system) / 1000));
  }
  results[name] = { median: median(times), max: Math.max(...times), cpu: median(cpus) };
  if (results[name].max >= 1000) slow++;
  const over = name in statsPages && results[name].median > GOAL_MS;
  if (over) overGoal.push(name);
  line(
    `- ${name}: ${results[name].median.toFixed(1)} ms (max ${results[name].max.toFixed(1)} ms), CPU ${results[name].cpu.toFixed(1)} ms${over ? '   <-- OVER GOAL' : ''}`,
  );
}

line();
line('## Each statistic behind each statistics page (ms, median; the rest of a page is rendering it)');
const per: Record<string, Record<string, number>> = {};
for (const [name, url] of Object.entries(statsPages)) {
  const runs: Record<string, number[]> = {};
  const req = statsRequest(Object.fromEntries(new URL(url, 'http://x').searchParams), NOW);
  for (let i = 0; i < RUNS; i++) {
    const v = computeStats(web, req);
    for (const [k, t] of Object.entries(v.timings)) (runs[k] ??= []).push(t);
  }
  per[name] = Object.fromEntries(Object.entries(runs).map(([k, t]) => [k, +median(t).toFixed(2)]));
  line(
    `- ${name}: ${Object.entries(per[name])
      .map(([k, t]) => `${k} ${t.toFixed(1)}`)
      .join(', ')}`,
  );
}

// ---- query plans of what the pages ran
line();
line('## Query plans of every statement the pages ran');
let unindexed = 0;
const verdicts = recorder.statements().map((st) => checkPlan(db, st));
const shown = new Set<string>();
for (const v of verdicts) {
  unindexed += v.problems.length;
  if (shown.has(v.sql) && !v.problems.length) continue;
  shown.add(v.sql);
  line(`- ${v.sql.replace(/\s+/g, ' ').slice(0, 150)}`);
  for (const p of v.plan) line(`    ${p}`);
  for (const p of v.allowed) line(`    allowed: ${p}`);
  for (const p of v.problems) line(`    NOT INDEXED: ${p}`);
}

// ---- baseline: the same figures counted straight from the stored records
line();
line('## Baseline: counting straight from `ratings` (what the daily counts save)');
const from = NOW - YEAR_MS;
const base = (name: string, sql: string, ...params: unknown[]) => {
  const t = process.hrtime.bigint();
  const rows = db.prepare(sql).all(...params);
  const took = ms(t);
  line(`- ${name}: ${took.toFixed(0)} ms (${rows.length} rows)`);
  return took;
};
const baseWindow = base(
  'per window and level, year',
  "SELECT window, level, count(*) FROM ratings WHERE kind = 'rating' AND received_at >= ? GROUP BY window, level",
  from,
);
const baseItem = base(
  'per item and level, year (item from the record body)',
  "SELECT json_extract(body, '$.session.itemCode') AS item, level, count(*) FROM ratings WHERE kind = 'rating' AND received_at >= ? GROUP BY item, level",
  from,
);
const rollupWindow = per['GET /stats (whole year, by day)']?.window ?? NaN;
line(`- ratio (baseline per window ÷ daily counts per window): ${(baseWindow / rollupWindow).toFixed(0)}×`);

// ---- consistency: the kept counts equal a recount of the facts
t0 = process.hrtime.bigint();
const rollupMismatches = web.facts.checkRollups().length;
const orderMismatches = checkOrderCounts(db).length;
const mismatches = rollupMismatches + orderMismatches;
const checkMs = ms(t0);

const summary = {
  ratings: N,
  windows: WINDOWS,
  years: YEARS,
  reused: reuse,
  openMs: Math.round(openMs),
  facts,
  workOrders: orders,
  generateMs: Math.round(genMs),
  catchUpMs: Math.round(catchUpMs),
  catchUpPerSecond: Math.round(facts / (catchUpMs / 1000)),
  catchUpPerCpuSecond: Math.round(facts / (catchUpCpuMs / 1000)),
  closeOrdersMs: Math.round(closeMs),
  pages: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, +v.median.toFixed(1)])),
  pagesCpu: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, +v.cpu.toFixed(1)])),
  statistics: per,
  goalMs: GOAL_MS,
  overGoal,
  worstPageMs: +Math.max(...Object.values(results).map((r) => r.max)).toFixed(1),
  baselineWindowMs: Math.round(baseWindow),
  baselineItemMs: Math.round(baseItem),
  rollupCheck: { mismatches: rollupMismatches, orderCountMismatches: orderMismatches, ms: Math.round(checkMs) },
  unindexedPlans: unindexed,
  dbMiB: Math.round(
    ((db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number)) / 2 ** 20,
  ),
};
line();
line(
  `## Setup: ${reuse ? `reused the data of an earlier run (opened and migrated in ${(openMs / 1000).toFixed(1)} s)` : `generated ${N.toLocaleString('en')} in ${(genMs / 1000).toFixed(1)} s`}; catch-up (facts + counts + ${orders.toLocaleString('en')} orders) ${(catchUpMs / 1000).toFixed(1)} s = ${summary.catchUpPerSecond.toLocaleString('en')} ratings/s (${summary.catchUpPerCpuSecond.toLocaleString('en')} per CPU-second); closed ${toClose.length.toLocaleString('en')} orders through the state machine in ${(closeMs / 1000).toFixed(1)} s; rollup check ${rollupMismatches} mismatches, work-order counts ${orderMismatches} (${checkMs.toFixed(0)} ms); database ${summary.dbMiB} MiB`,
);
line(JSON.stringify(summary));
await app.close();
web.stop();
db.close();
if (!args.keep) rmSync(dir, { recursive: true, force: true });
if (slow || unindexed || mismatches) {
  process.stderr.write(`FAILED: ${slow} page(s) ≥ 1 s, ${unindexed} unindexed plan step(s), ${mismatches} rollup mismatch(es)\n`);
  process.exit(1);
}
