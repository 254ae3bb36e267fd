/**
 * Every statistics query uses an index. A small hub database (two years of ratings at three
 * windows, flagged and misuse ratings, a 差评 judged invalid, work orders) is filled the way
 * ingest and the catch-up fill it; the statistics pages, their drill-downs, every CSV export and
 * the JSON API are rendered over HTTP while the database records each statement it runs; then
 * SQLite's own plan of each (with the parameters it ran with) must search an index: a full read
 * of a table of the hall's history fails, as does a scan of an index not bounded by its WHERE or
 * a LIMIT (hub/stats/query-plans.ts says which are allowed, and why).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { STAT_SQL } from '../../hub/stats/queries.js';
import { checkPlan } from '../../hub/stats/query-plans.js';
import { ORDER_SUMMARY_SQL } from '../../hub/stats/order-counts.js';
import { closeStatsHall, statsHall, type StatsHall } from '../helpers/stats-hall.js';

let env: StatsHall | null = null;
afterEach(async () => {
  if (env) await closeStatsHall(env);
  env = null;
});

async function setup() {
  env = await statsHall();
  return env;
}

/** What the hall staff open: each preset, a range over years, each drill-down, each CSV, the JSON API. */
const STATS_URLS = [
  '/stats?preset=today',
  '/stats?preset=week',
  '/stats?preset=month',
  '/stats?preset=year',
  '/stats?preset=year&grain=day',
  '/stats?from=2024-11-21&to=2026-11-20',
  '/stats?from=2024-11-21&to=2026-11-20&dim=window&key=01',
  '/stats?preset=year&grain=week&dim=staff&key=S02',
  '/stats?preset=year&dim=item&key=116100003',
  '/stats?preset=month&dim=channel&key=device',
  '/stats?from=2025-01-01&to=2026-11-20&flag=too-soon',
  ...['window', 'staff', 'item', 'channel', 'trend', 'invalid', 'flagged'].map(
    (t) => `/stats.csv?from=2024-11-21&to=2026-11-20&table=${t}`,
  ),
  '/api/hall/stats?preset=year',
  '/api/hall/stats?from=2024-11-21&to=2026-11-20&dim=window&key=02',
];

/** Renders every statistics URL while recording, then checks each recorded statement's plan. */
async function plansOfTheStatisticsPages(e: StatsHall) {
  await e.recorder.during(async () => {
    for (const url of STATS_URLS) {
      const r = await e.app.inject({ method: 'GET', url, headers: { cookie: e.cookie } });
      expect(r.statusCode, `${url}: ${r.body.slice(0, 200)}`).toBe(200);
    }
  });
  const ran = e.recorder.statements();
  return { ran, verdicts: ran.map((s) => checkPlan(e.db, s)) };
}

describe('statistics query plans', () => {
  it('every statement the statistics pages, CSV exports and API run is answered from an index', async () => {
    const e = await setup();
    const { ran, verdicts } = await plansOfTheStatisticsPages(e);
    // What was recorded is what the statistics run (not nothing): each of their statements is among it.
    const sqls = new Set(ran.map((s) => s.sql));
    for (const sql of [
      STAT_SQL.byDim,
      STAT_SQL.hallDays,
      STAT_SQL.keyDays,
      STAT_SQL.invalidated,
      STAT_SQL.flagged,
      STAT_SQL.itemNames,
      ORDER_SUMMARY_SQL,
    ])
      expect(sqls, sql.slice(0, 80)).toContain(sql);
    // byDim ran for every dimension.
    const dims = new Set(ran.filter((s) => s.sql === STAT_SQL.byDim).map((s) => (s.params[0] as { dim: string }).dim));
    expect([...dims].sort()).toEqual(['channel', 'item', 'staff', 'window']);
    const problems = verdicts.flatMap((v) => v.problems.map((p) => `${p}\n    in: ${v.sql.replace(/\s+/g, ' ').slice(0, 160)}`));
    expect(problems).toEqual([]);
  });

  it('fails when a statistics query loses its index (the invalidated-ratings list without rating_facts_excluded and rating_facts_at)', async () => {
    const e = await setup();
    e.db.exec('DROP INDEX rating_facts_excluded; DROP INDEX rating_facts_at');
    const { verdicts } = await plansOfTheStatisticsPages(e);
    const bad = verdicts.filter((v) => v.problems.length);
    expect([...new Set(bad.map((v) => v.sql))]).toEqual([STAT_SQL.invalidated]);
    expect(bad[0]!.problems.join()).toMatch(/^SCAN f: reads the whole table rating_facts/);
  });

  it('fails when a trend can only read a whole index (stat_daily_key rebuilt on a column the trend does not search)', async () => {
    const e = await setup();
    // The trend's INDEXED BY names the index; rebuilt on another column, SQLite can only read all of it.
    e.db.exec('DROP INDEX stat_daily_key; CREATE INDEX stat_daily_key ON stat_daily (n1)');
    const { verdicts } = await plansOfTheStatisticsPages(e);
    const bad = verdicts.filter((v) => v.problems.length).map((v) => v.sql);
    expect(bad).toEqual(expect.arrayContaining([STAT_SQL.keyDays, STAT_SQL.hallDays]));
  });
});
