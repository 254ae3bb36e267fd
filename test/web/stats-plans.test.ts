/**
 * Every statistics query uses an index. A small hub database (two years of ratings at three
 * windows, flagged and misuse ratings, a 差评 judged invalid, work orders) is filled the way
 * ingest and the catch-up fill it; the statistics pages, their drill-downs, every CSV export and
 * the JSON API are rendered over HTTP while the database records each statement it runs; then
 * SQLite's own plan of each (with the parameters it ran with) must search an index: a full read
 * of a table of the hall's history fails, as does a scan of an index not bounded by its WHERE or
 * a LIMIT (hub/stats/query-plans.ts says which are allowed, and why).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubEvents } from '../../hub/events.js';
import { FactSync } from '../../hub/facts/fact-sync.js';
import { createMetrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { STAT_SQL } from '../../hub/stats/queries.js';
import { checkPlan, StatementRecorder } from '../../hub/stats/query-plans.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb } from '../../hub/store/db.js';
import { HallWeb } from '../../hub/web/hall-web.js';
import { webRoutes } from '../../hub/web/routes.js';
import { ORDER_SUMMARY_SQL } from '../../hub/web/stats-view.js';
import { silentLog } from '../helpers/log.js';
import { closeWebEnv, type WebEnvBase } from '../helpers/web-env.js';

const NOW = Date.parse('2026-11-20T16:00:00+08:00');
const DAY = 86_400_000;

let env: (WebEnvBase & { recorder: StatementRecorder }) | null = null;
afterEach(async () => {
  if (env) {
    env.recorder.stop();
    await closeWebEnv(env);
  }
  env = null;
});

/** A hub database with two years of a small hall, caught up by the real FactSync. */
async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-plans-'));
  const db = openHubDb(join(dir, 'hub.db'));
  // Before any part prepares its statements: the recorder sees them all.
  const recorder = new StatementRecorder(db);
  const clock = { t: NOW };
  const now = () => clock.t;
  const log = silentLog();
  const registry = new Registry(db, 'plan-hall', now);
  for (const w of ['01', '02', '03'])
    registry.add({
      window: w,
      id: `ev-0${w}`,
      settings: { staff: { id: `S${w}`, name: `员工${w}`, number: w, photo: null }, windowName: `窗口${w}` },
    });
  const events = new EventEmitter<HubEvents>();
  const metrics = createMetrics();
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
  const sync = new FactSync({ records: web.records, events, log, metrics });

  // Two years, a rating every fourth day at each window; every seventh a 差评 (a work order);
  // some flagged (counted, marked) and some excluded as misuse, as the flag policy decides at ingest.
  const insert = db.prepare(
    `INSERT INTO ratings (id, device, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body)
     VALUES (?, ?, ?, 'plan-hall', ?, ?, 'rating', ?, '[]', ?, '[]', ?, 1, ?, ?, ?)`,
  );
  const decide = db.prepare(
    "INSERT INTO rating_decisions (rating_id, action, flags, shown, mode, decided_at) VALUES (?, ?, '[\"too-soon\"]', '[\"too-soon\"]', 'walk-up', ?)",
  );
  let n = 0;
  db.transaction(() => {
    for (let day = 730; day >= 0; day -= 4) {
      for (const w of ['01', '02', '03']) {
        n++;
        const id = `01900000-0000-7000-8000-${String(n).padStart(12, '0')}`;
        const at = NOW - day * DAY - 3 * 3_600_000;
        const level = n % 7 === 0 ? 1 : 5 - (n % 3);
        const session = n % 2 ? { id: `s${n}`, cases: [`BJ${n}`], itemCode: `11610000${n % 5}`, itemName: `事项${n % 5}` } : null;
        const body = { v: 1, id, hall: 'plan-hall', device: `ev-0${w}`, window: w, staffId: `S${w}`, seq: n, kind: 'rating', level };
        const record = { ...body, reasons: level <= 2 ? ['107'] : [], catalogue: 'builtin', session, at, clockSynced: true, flags: [] };
        insert.run(
          id,
          `ev-0${w}`,
          n,
          w,
          `S${w}`,
          level,
          session?.id ?? null,
          at,
          at + 100,
          id.replace(/-/g, '').padEnd(64, '0'),
          JSON.stringify(record),
        );
        if (n % 11 === 0) decide.run(id, n % 22 === 0 ? 'exclude' : 'flag', at);
      }
    }
  })();
  sync.syncNow();
  // One 差评 judged invalid on appeal: the invalidated list has a row.
  const order = db.prepare<[], { id: number; rating_id: string }>('SELECT id, rating_id FROM work_orders ORDER BY id DESC LIMIT 1').get()!;
  db.transaction(() => web.facts.exclude(order.rating_id, 'invalid'))();

  const app = Fastify();
  await app.register(webRoutes, web);
  await app.ready();
  await web.users.add('test', { name: 'viewer', role: 'viewer', password: 'viewer-password-1' });
  const login = await app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'viewer', password: 'viewer-password-1' } });
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  env = { dir, db, web, sync, app, recorder };
  return { ...env, cookie };
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
async function plansOfTheStatisticsPages(e: Awaited<ReturnType<typeof setup>>) {
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

  it('fails when a statistics query loses its index (the rectification summary without work_orders_created)', async () => {
    const e = await setup();
    e.db.exec('DROP INDEX work_orders_created');
    const { verdicts } = await plansOfTheStatisticsPages(e);
    const bad = verdicts.filter((v) => v.problems.length);
    expect([...new Set(bad.map((v) => v.sql))]).toEqual([ORDER_SUMMARY_SQL]);
    expect(bad[0]!.problems.join()).toMatch(/^SCAN work_orders\b.*: reads the whole/);
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
