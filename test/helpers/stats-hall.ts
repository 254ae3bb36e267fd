/**
 * A small hub database for the statistics tests: two years of ratings at three windows (a
 * rating every fourth day at each, caught up that day), every seventh a 差评 with its work order, some flagged and
 * some excluded as misuse as the flag policy decides at ingest, one 差评 judged invalid — stored
 * as ingest stores them and caught up by the real FactSync. The hall page's routes are ready
 * and a viewer is logged in. A StatementRecorder is made before any part prepares a statement.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { HubEvents } from '../../hub/events.js';
import { FactSync } from '../../hub/facts/fact-sync.js';
import { createMetrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { StatementRecorder } from '../../hub/stats/query-plans.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb } from '../../hub/store/db.js';
import { HallWeb } from '../../hub/web/hall-web.js';
import { webRoutes } from '../../hub/web/routes.js';
import { silentLog } from './log.js';
import { closeWebEnv, type WebEnvBase } from './web-env.js';

export interface StatsHall extends WebEnvBase {
  recorder: StatementRecorder;
  /** The hub's clock (NOW once set up). */
  clock: { t: number };
  /** The viewer's session cookie. */
  cookie: string;
}

export const NOW = Date.parse('2026-11-20T16:00:00+08:00');
const DAY = 86_400_000;

/** A hub database with two years of a small hall, caught up by the real FactSync. */
export async function statsHall(): Promise<StatsHall> {
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
  for (let day = 730; day >= 0; day -= 4) {
    // Caught up as the hub does, soon after they were stored: each work order is created that day.
    clock.t = NOW - day * DAY - 3 * 3_600_000 + 60_000;
    db.transaction(() => {
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
    })();
    sync.syncNow();
  }
  clock.t = NOW;
  // One 差评 judged invalid on appeal: the invalidated list has a row.
  const order = db.prepare<[], { id: number; rating_id: string }>('SELECT id, rating_id FROM work_orders ORDER BY id DESC LIMIT 1').get()!;
  db.transaction(() => web.facts.exclude(order.rating_id, 'invalid'))();

  const app = Fastify();
  await app.register(webRoutes, web);
  await app.ready();
  await web.users.add('test', { name: 'viewer', role: 'viewer', password: 'viewer-password-1' });
  const login = await app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'viewer', password: 'viewer-password-1' } });
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  return { dir, db, web, sync, app, recorder, cookie, clock };
}

export async function closeStatsHall(e: StatsHall): Promise<void> {
  e.recorder.stop();
  await closeWebEnv(e);
}
