/**
 * Benchmark: the hall page with a year of data for a big hall — 400 windows, ~1.5 million
 * ratings, generated straight into SQLite as ingest stores them, then taken in by the real
 * catch-up (facts, daily counts, ~75k 差评 work orders). Measures the server time of each
 * statistic and of whole pages (statistics for the year, the month, today; the device wall;
 * the work-order list), prints EXPLAIN QUERY PLAN for every statement behind them, and
 * compares against the baseline of counting straight from the stored records.
 *
 *   npm run bench:web                      # 1.5M ratings (about 3–4 minutes on 2 cores)
 *   node dist/bench/web-stats.js --ratings 200000 --windows 100 --keep DIR
 *
 * Exits non-zero if a page takes a second or more, or a plan scans a big table without an index.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pino from 'pino';

import type { HubEvents } from '../hub/events.js';
import { createMetrics } from '../hub/metrics.js';
import { Registry } from '../hub/registry/registry.js';
import { DeviceStatusStore } from '../hub/status/device-status.js';
import { STAT_SQL } from '../hub/stats/queries.js';
import { openHubDb } from '../hub/store/db.js';
import { HallWeb } from '../hub/web/hall-web.js';
import { FactSync } from '../hub/facts/fact-sync.js';
import { webRoutes } from '../hub/web/routes.js';
import { computeStats, ORDER_SUMMARY_SQL } from '../hub/web/stats-view.js';

const { values: args } = parseArgs({
  options: {
    ratings: { type: 'string', default: '1500000' },
    windows: { type: 'string', default: '400' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'string' },
  },
});
const N = Number(args.ratings);
const WINDOWS = Number(args.windows);
const RUNS = Number(args.runs);
const NOW = Date.parse('2026-11-20T16:00:00+08:00');
const YEAR_MS = 365 * 86_400_000;

const dir = args.keep ?? mkdtempSync(join(tmpdir(), 'hcp-bench-web-'));
const log = pino({ level: 'warn' });
const db = openHubDb(join(dir, 'hub.db'));
db.pragma('synchronous = NORMAL'); // generation only; the hub itself runs FULL
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
let t0 = process.hrtime.bigint();
const BATCH = 50_000;
for (let done = 0; done < N;) {
  db.transaction(() => {
    for (let i = 0; i < BATCH && done < N; i++, done++) {
      // Spread over the year in time order, within opening hours (08:30–17:30).
      const day = Math.floor((done / N) * 365);
      const at = NOW - YEAR_MS + day * 86_400_000 - 7.5 * 3_600_000 + rnd(9 * 3600) * 1000;
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
const facts = factSync.syncNow();
const catchUpMs = ms(t0);
const orders = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM work_orders').get()!.n;

// Most of the year's orders were handled: close all but the last two weeks' through the machine.
t0 = process.hrtime.bigint();
const toClose = db
  .prepare<[number], { id: number; created_at: number }>('SELECT id, created_at FROM work_orders WHERE created_at < ? ORDER BY id')
  .all(NOW - 14 * 86_400_000);
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
db.pragma('optimize');

// ---- query plans
const plans: Record<string, [string, unknown[]]> = {
  'stat: by window/staff/item/channel': [
    STAT_SQL.byDim,
    [{ dim: 'window', m1: 24310, m2: 24320, a1: 20400, b1: 20410, a2: 20700, b2: 20710 }],
  ],
  'stat: hall by day (summary, day/week/month trend)': [STAT_SQL.hallDays, [0, 99999]],
  'stat: one window/staff/item by day (drill-down trend)': [STAT_SQL.keyDays, ['window', '001', 0, 99999]],
  'stat: invalidated ratings': [STAT_SQL.invalidated, [0, NOW, 200]],
  'stat: 差评 rectification status': [ORDER_SUMMARY_SQL, [0, NOW]],
  'wall: latest ratings feed': [STAT_SQL.recent, [30]],
  'wall: last rating of a window': ['SELECT level, at FROM rating_facts WHERE window = ? ORDER BY at DESC LIMIT 1', ['001']],
  "alerts: a window's last hour": [STAT_SQL.windowRecent, ['001', NOW - 3_600_000]],
  'orders: open, by deadline': [
    "SELECT * FROM work_orders WHERE id < ? AND state NOT IN ('closed', 'invalid') ORDER BY due_at LIMIT ?",
    [1e15, 200],
  ],
  'orders: overdue': [
    "SELECT * FROM work_orders WHERE id < ? AND state NOT IN ('closed', 'invalid') AND due_at < ? ORDER BY due_at LIMIT ?",
    [1e15, NOW, 200],
  ],
  'orders: one state, newest first': [
    'SELECT * FROM work_orders WHERE id < ? AND state = ? ORDER BY id DESC LIMIT ?',
    [1e15, 'closed', 200],
  ],
  'orders: open and overdue counts': [
    "SELECT count(*) AS open, coalesce(sum(due_at < ?), 0) AS overdue FROM work_orders WHERE state NOT IN ('closed', 'invalid')",
    [NOW],
  ],
};
line(`# hall page benchmark: ${N.toLocaleString('en')} ratings, ${WINDOWS} windows, one year (data in ${dir})`);
line();
line('## Query plans');
let unindexed = 0;
for (const [name, [sql, params]] of Object.entries(plans)) {
  const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
  line(`- ${name}`);
  for (const p of plan) {
    // A SCAN of a table is a full read; SCAN of an index or a covering index is bounded by it.
    const bad = /^SCAN (rating_facts|stat_daily|work_orders|ratings)\b(?! USING)/.test(p.detail);
    if (bad) unindexed++;
    line(`    ${p.detail}${bad ? '   <-- NOT INDEXED' : ''}`);
  }
}

// ---- page loads
const app = Fastify();
await app.register(webRoutes, web);
await app.ready();
await web.users.add('bench', { name: 'viewer', role: 'viewer', password: 'bench-password-1' });
const login = await app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'viewer', password: 'bench-password-1' } });
const cookie = String(login.headers['set-cookie']).split(';')[0]!;

const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const pages: Record<string, string> = {
  'GET /stats?preset=year (grain month)': '/stats?preset=year',
  'GET /stats (whole year, by day)': `/stats?from=2025-11-21&to=2026-11-20&grain=day`,
  'GET /stats?preset=month': '/stats?preset=month',
  'GET /stats?preset=today': '/stats?preset=today',
  'GET /stats drill-down: one window, year by week': '/stats?preset=year&grain=week&dim=window&key=001',
  'GET /wall (400 tiles)': '/wall',
  'GET /workorders (open)': '/workorders?state=open',
  'GET /workorders (closed, newest 200)': '/workorders?state=closed',
  'GET /stats.csv?table=item (year)': '/stats.csv?preset=year&table=item',
};
line();
line(`## Page loads (server time, median and max of ${RUNS} runs after one warm-up)`);
const results: Record<string, { median: number; max: number }> = {};
let slow = 0;
for (const [name, url] of Object.entries(pages)) {
  const times: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t = process.hrtime.bigint();
    const r = await app.inject({ method: 'GET', url, headers: { cookie } });
    if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
    if (i > 0) times.push(ms(t));
  }
  results[name] = { median: median(times), max: Math.max(...times) };
  if (results[name].max >= 1000) slow++;
  line(`- ${name}: ${results[name].median.toFixed(1)} ms (max ${results[name].max.toFixed(1)} ms)`);
}

line();
line('## Each statistic of the year page (ms, median)');
const per: Record<string, number[]> = {};
for (let i = 0; i < RUNS; i++) {
  const v = computeStats(web, { from: '2026-01-01', to: '2026-11-20', grain: 'month' });
  for (const [k, t] of Object.entries(v.timings)) (per[k] ??= []).push(t);
}
for (const [k, t] of Object.entries(per)) line(`- ${k}: ${median(t).toFixed(2)}`);

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
const rollupWindow = per.window ? median(per.window) : NaN;
line(`- ratio (baseline per window ÷ daily counts per window): ${(baseWindow / rollupWindow).toFixed(0)}×`);

// ---- consistency: the kept counts equal a recount of the facts
t0 = process.hrtime.bigint();
const mismatches = web.facts.checkRollups().length;
const checkMs = ms(t0);

const summary = {
  ratings: N,
  windows: WINDOWS,
  facts,
  workOrders: orders,
  generateMs: Math.round(genMs),
  catchUpMs: Math.round(catchUpMs),
  catchUpPerSecond: Math.round(facts / (catchUpMs / 1000)),
  closeOrdersMs: Math.round(closeMs),
  pages: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, +v.median.toFixed(1)])),
  worstPageMs: +Math.max(...Object.values(results).map((r) => r.max)).toFixed(1),
  baselineWindowMs: Math.round(baseWindow),
  baselineItemMs: Math.round(baseItem),
  rollupCheck: { mismatches, ms: Math.round(checkMs) },
  unindexedPlans: unindexed,
  dbMiB: Math.round(
    ((db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number)) / 2 ** 20,
  ),
};
line();
line(
  `## Setup: generated ${N.toLocaleString('en')} in ${(genMs / 1000).toFixed(1)} s; catch-up (facts + counts + ${orders.toLocaleString('en')} orders) ${(catchUpMs / 1000).toFixed(1)} s = ${summary.catchUpPerSecond.toLocaleString('en')} ratings/s; closed ${toClose.length.toLocaleString('en')} orders through the state machine in ${(closeMs / 1000).toFixed(1)} s; rollup check ${mismatches} mismatches (${checkMs.toFixed(0)} ms); database ${summary.dbMiB} MiB`,
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
