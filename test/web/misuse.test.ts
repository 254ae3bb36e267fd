/**
 * Misuse in the hall page with a fake clock, over a real SQLite file: ratings stored as ingest
 * stores them (the record and the flag policy's decision beside it), then the statistics, the
 * flagged list and CSV, and the misuse alerts with their thresholds.
 */
import { closeWebEnv, queueByHand, type WebEnvBase } from '../helpers/web-env.js';
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dayNumber } from '../../hub/calendar/working-days.js';
import type { HubEvents } from '../../hub/events.js';
import { createMetrics } from '../../hub/metrics.js';
import { decideFlags, type FlagPolicy } from '../../hub/policy/flag-policy.js';
import { Registry } from '../../hub/registry/registry.js';
import { flaggedHigh, longestBurst, MisuseRuleSchema } from '../../hub/stats/misuse-alerts.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb } from '../../hub/store/db.js';
import type { WebConfigInput } from '../../hub/web/config.js';
import { HallWeb } from '../../hub/web/hall-web.js';
import { FactSync } from '../../hub/facts/fact-sync.js';
import { REASON_TASK_NOTE } from '../../hub/workorders/store.js';
import { webRoutes } from '../../hub/web/routes.js';
import { silentLog } from '../helpers/log.js';

const china = (s: string) => Date.parse(s + '+08:00');

interface Env extends WebEnvBase {
  clock: { t: number };
  seq: Map<string, number>;
}
let env: Env | null = null;
afterEach(async () => {
  if (env) await closeWebEnv(env);
  env = null;
});

async function setup(start: string, config: WebConfigInput = {}): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-misuse-'));
  const db = openHubDb(join(dir, 'hub.db'));
  const clock = { t: china(start) };
  const now = () => clock.t;
  const log = silentLog();
  const registry = new Registry(db, 'misuse-hall', now);
  for (const w of ['01', '02', '03']) registry.add({ window: w, id: `ev-0${w}` });
  const events = new EventEmitter<HubEvents>();
  const metrics = createMetrics();
  const web = HallWeb.open({
    db,
    registry,
    status: new DeviceStatusStore(db, log, () => {}, now),
    events,
    log,
    metrics,
    config: { policy: 'ankang', ...config },
    dataDir: dir,
    now,
  });
  const sync = new FactSync({ records: web.records, events, log: log, metrics });

  const app = Fastify();
  await app.register(webRoutes, web);
  await app.ready();
  env = { dir, db, web, sync, app, clock, seq: new Map() };
  return env;
}

let ids = 0;
/**
 * Stores a rating as ingest does: the row with its record, and the flag policy's decision for
 * it (session mode; `session` says whether the hub opened one for it).
 */
function store(
  e: Env,
  o: {
    window: string;
    level: number;
    flags?: string[];
    session?: boolean;
    policy?: FlagPolicy;
    reasons?: string[];
    /** When the citizen pressed (default now); received now either way. */
    at?: number;
  },
): string {
  const at = o.at ?? e.clock.t;
  const device = `ev-0${o.window}`;
  const seq = (e.seq.get(device) ?? 0) + 1;
  e.seq.set(device, seq);
  const id = `01900000-0000-7000-8000-${String(++ids).padStart(12, '0')}`;
  const hubSession = o.session ?? true;
  const session = hubSession ? { id: `s${ids}`, cases: [`BJ${ids}`], itemCode: 'X1', itemName: '户籍' } : null;
  if (session)
    e.db
      .prepare(
        "INSERT INTO sessions (id, device, window, cases, state, opened_at, deadline_at, rating_id) VALUES (?, ?, ?, ?, 'rated', ?, ?, ?)",
      )
      .run(session.id, device, o.window, JSON.stringify(session.cases), e.clock.t, e.clock.t + 1e9, id);
  const flags = o.flags ?? [];
  const body = {
    v: 1,
    id,
    hall: 'misuse-hall',
    device,
    window: o.window,
    staffId: null,
    seq,
    kind: 'rating',
    level: o.level,
    reasons: o.reasons ?? [],
    catalogue: 'builtin',
    session,
    at,
    clockSynced: true,
    flags,
  };
  e.db
    .prepare(
      `INSERT INTO ratings (id, device, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, ?, ?, 'misuse-hall', ?, NULL, 'rating', ?, '[]', ?, ?, ?, 1, ?, ?, ?)`,
    )
    .run(
      id,
      device,
      seq,
      o.window,
      o.level,
      session?.id ?? null,
      JSON.stringify(flags),
      at,
      e.clock.t,
      id.replace(/-/g, '').padEnd(64, '0'),
      JSON.stringify(body),
    );
  const d = decideFlags({ deviceFlags: flags, mode: 'session', hubSession }, o.policy);
  e.db
    .prepare('INSERT INTO rating_decisions (rating_id, action, flags, shown, mode, decided_at) VALUES (?, ?, ?, ?, ?, ?)')
    .run(id, d.action, JSON.stringify(d.flags), JSON.stringify(d.shown), 'session', e.clock.t);
  return id;
}

const alertsOf = (e: Env) => e.web.alerts.list().map((a) => ({ window: a.window, kind: a.kind, bad: a.bad }));

describe('the statistics keep misuse apart', () => {
  it('excluded presses are not in the 满意率 but have their own column; flagged ones count and are marked; the rollups still prove out', async () => {
    const e = await setup('2026-10-08T09:00:00');
    store(e, { window: '01', level: 5, session: false }); // no session in session mode: excluded
    store(e, { window: '01', level: 5, flags: ['too-soon'] }); // counted, flagged
    store(e, { window: '01', level: 2 });
    store(e, { window: '02', level: 4 });
    e.sync.syncNow();
    const day = dayNumber(e.clock.t);
    expect(e.web.stats.summary(day, day)).toMatchObject({ total: 3, n5: 1, n4: 1, n2: 1, flagged: 1, misuse: 1, satisfaction: 2 / 3 });
    const w1 = e.web.stats.byDim('window', day, day).find((r) => r.key === '01')!;
    expect(w1.counts).toMatchObject({ total: 2, flagged: 1, misuse: 1 });
    // The wall's tile says it too.
    expect(e.web.tiles().find((t) => t.window === '01')!.today).toEqual({ total: 2, bad: 1, misuse: 1 });
    expect(e.web.tile('ev-001').today).toEqual({ total: 2, bad: 1, misuse: 1 });
    expect(e.web.facts.checkRollups()).toEqual([]);
    e.web.facts.rebuildRollups();
    expect(e.web.stats.summary(day, day)).toMatchObject({ total: 3, flagged: 1, misuse: 1 });
    // A counted-but-flagged 差评 found invalid on appeal leaves the flagged count too.
    const bad = store(e, { window: '03', level: 1, flags: ['too-soon'] });
    e.sync.syncNow();
    expect(e.web.stats.summary(day, day).flagged).toBe(2);
    expect(e.web.facts.exclude(bad, 'invalid')).toBe(true);
    expect(e.web.stats.summary(day, day)).toMatchObject({ flagged: 1, invalid: 1 });
    expect(e.web.facts.checkRollups()).toEqual([]);
  });

  it('the flagged list filters by flag, and the CSV carries the flags and whether each was counted', async () => {
    const e = await setup('2026-10-08T09:00:00');
    const excluded = store(e, { window: '01', level: 5, session: false });
    e.clock.t += 60_000;
    const soon = store(e, { window: '02', level: 4, flags: ['too-soon'] });
    e.clock.t += 60_000;
    store(e, { window: '02', level: 3 }); // no flag: not listed
    e.sync.syncNow();
    const day = dayNumber(e.clock.t);
    expect(e.web.stats.flagged(0, e.clock.t).map((r) => [r.id, r.flags, r.excluded])).toEqual([
      [soon, 'too-soon', null],
      [excluded, 'no-session', 'misuse'],
    ]);
    expect(e.web.stats.flagged(0, e.clock.t, 'no-session').map((r) => r.id)).toEqual([excluded]);

    const u = await e.web.users.add('test', { name: 'viewer1', role: 'viewer', password: 'viewer-password-1' });
    expect(u.user.name).toBe('viewer1');
    const login = await e.app.inject({
      method: 'POST',
      url: '/api/hall/login',
      payload: { name: 'viewer1', password: 'viewer-password-1' },
    });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const q = `from=2026-10-08&to=2026-10-08`;
    const json = (await e.app.inject({ method: 'GET', url: `/api/hall/stats?${q}&flag=too-soon`, headers: { cookie } })).json();
    expect(json.summary).toMatchObject({ total: 2, flagged: 1, misuse: 1 });
    expect(json.flagged.map((r: { id: string }) => r.id)).toEqual([soon]);
    expect((await e.app.inject({ method: 'GET', url: `/api/hall/stats?${q}&flag=Bad Flag`, headers: { cookie } })).statusCode).toBe(400);

    const csv = (await e.app.inject({ method: 'GET', url: `/stats.csv?${q}&table=flagged`, headers: { cookie } })).body;
    const lines = csv.replace('\uFEFF', '').trim().split('\r\n');
    expect(lines[0]).toBe('评价编号,评价时间,窗口,等级,工作人员,事项编码,设备,标记,标记说明,统计');
    expect(lines[1]).toContain(`${soon},`);
    expect(lines[1]).toMatch(/,too-soon,提示后过快按键,计入$/);
    expect(lines[2]).toMatch(/,no-session,无办件会话,不计入$/);
    const byWindow = (await e.app.inject({ method: 'GET', url: `/stats.csv?${q}&table=window`, headers: { cookie } })).body
      .replace('\uFEFF', '')
      .trim()
      .split('\r\n');
    expect(byWindow[0]).toMatch(/,已标记,异常不计入$/);
    expect(byWindow.find((l) => l.startsWith('01'))).toMatch(/,0,1$/);
    expect(byWindow.find((l) => l.startsWith('02'))).toMatch(/,1,0$/);
    // The page shows the flagged list with its badges.
    const page = (await e.app.inject({ method: 'GET', url: `/stats?${q}`, headers: { cookie } })).body;
    expect(page).toContain('data-flag="no-session"');
    expect(page).toContain('id="k-misuse"');
    expect(day).toBe(dayNumber(china('2026-10-08T12:00:00')));
  });

  it("the wall's feed after a reload carries each rating's flags", async () => {
    const e = await setup('2026-10-08T09:00:00');
    store(e, { window: '01', level: 5, session: false });
    e.sync.syncNow();
    expect(e.web.stats.recent(5)).toMatchObject([{ window: '01', level: 5, excluded: 'misuse', flags: 'no-session' }]);
  });
});

describe('misuse alerts', () => {
  it('a burst of top ratings seconds apart raises one alert, quiet for an hour after', async () => {
    const e = await setup('2026-10-08T09:00:00');
    for (let i = 0; i < 3; i++) {
      store(e, { window: '01', level: 5 });
      e.sync.syncNow();
      e.clock.t += 6_000;
    }
    expect(alertsOf(e)).toEqual([{ window: '01', kind: 'burst', bad: 3 }]);
    expect(e.web.alerts.open()[0]!.detail).toMatch(/3 次最高评价连续出现/);
    for (let i = 0; i < 3; i++) {
      store(e, { window: '01', level: 5 });
      e.sync.syncNow();
      e.clock.t += 6_000;
    }
    expect(alertsOf(e)).toHaveLength(1);
    e.clock.t += 60 * 60_000;
    for (let i = 0; i < 3; i++) {
      store(e, { window: '01', level: 5 });
      e.sync.syncNow();
      e.clock.t += 6_000;
    }
    expect(alertsOf(e)).toHaveLength(2);
  });

  it("top ratings a citizen's service apart raise nothing", async () => {
    const e = await setup('2026-10-08T09:00:00');
    for (let i = 0; i < 10; i++) {
      store(e, { window: '01', level: 5 });
      e.sync.syncNow();
      e.clock.t += 2 * 60_000;
    }
    expect(alertsOf(e)).toEqual([]);
  });

  it('sessionless presses at one window: the fifth within an hour raises an alert, four do not', async () => {
    const e = await setup('2026-10-08T09:00:00');
    for (let i = 0; i < 4; i++) {
      store(e, { window: '02', level: 3, session: false });
      e.sync.syncNow();
      e.clock.t += 10 * 60_000;
    }
    expect(alertsOf(e)).toEqual([]);
    store(e, { window: '02', level: 3, session: false });
    e.sync.syncNow();
    expect(alertsOf(e)).toEqual([{ window: '02', kind: 'sessionless', bad: 5 }]);
  });

  it("a window far above the hall's 满意率 with most presses flagged raises an alert; a clean window at the same rate does not", async () => {
    const e = await setup('2026-10-08T09:00:00', { misuseAlerts: { burst: { min: 100 } } });
    // The hall: window 03 at 50 % satisfied.
    for (let i = 0; i < 10; i++) {
      store(e, { window: '03', level: i % 2 ? 4 : 2 });
      e.clock.t += 60_000;
    }
    // Window 02: all satisfied, none flagged. Window 01: all satisfied, 6 of 10 pressed too soon.
    for (let i = 0; i < 10; i++) {
      store(e, { window: '02', level: 5 });
      store(e, { window: '01', level: 5, flags: i < 6 ? ['too-soon'] : [] });
      e.clock.t += 60_000;
    }
    e.sync.syncNow();
    expect(alertsOf(e).filter((a) => a.kind !== 'count' && a.kind !== 'share')).toEqual([{ window: '01', kind: 'flagged-high', bad: 6 }]);
  });

  it('a rating held offline past every look-back is no new evidence: once the quiet time is over it re-raises nothing, a fresh one does', async () => {
    const e = await setup('2026-10-08T09:00:00', { misuseAlerts: { burst: { min: 100 } } });
    for (let i = 0; i < 10; i++) {
      store(e, { window: '03', level: i % 2 ? 4 : 2 });
      store(e, { window: '01', level: 5, flags: i < 6 ? ['too-soon'] : [] });
      e.clock.t += 60_000;
    }
    e.sync.syncNow();
    const flaggedHighAlerts = () => alertsOf(e).filter((a) => a.kind === 'flagged-high');
    expect(flaggedHighAlerts()).toEqual([{ window: '01', kind: 'flagged-high', bad: 6 }]);
    e.clock.t += 61 * 60_000; // past the hour's quiet time; the ten presses are still within the day
    // Pressed three days ago, delivered now (the evaluator was cut off): outside the rule's 24 h.
    store(e, { window: '01', level: 5, at: e.clock.t - 3 * 24 * 60 * 60_000 });
    e.sync.syncNow();
    expect(flaggedHighAlerts()).toHaveLength(1);
    store(e, { window: '01', level: 5, flags: ['too-soon'] });
    e.sync.syncNow();
    expect(flaggedHighAlerts()).toHaveLength(2);
  });

  it('a 差评 held offline past the cluster time window raises no cluster again; a fresh one does', async () => {
    const e = await setup('2026-10-08T09:00:00', { alerts: { minutes: 180 } });
    for (let i = 0; i < 3; i++) store(e, { window: '02', level: 1 });
    e.sync.syncNow();
    const clusters = () => alertsOf(e).filter((a) => a.kind === 'count');
    expect(clusters()).toEqual([{ window: '02', kind: 'count', bad: 3 }]);
    e.clock.t += 61 * 60_000; // quiet time over; the three are still within the 180 minutes
    store(e, { window: '02', level: 1, at: e.clock.t - 2 * 24 * 60 * 60_000 });
    e.sync.syncNow();
    expect(clusters()).toHaveLength(1);
    store(e, { window: '02', level: 2 });
    e.sync.syncNow();
    expect(clusters()).toEqual([
      { window: '02', kind: 'count', bad: 4 },
      { window: '02', kind: 'count', bad: 3 },
    ]);
  });

  it('a default that a late 差评 takes out of the counts sends its window through the cluster check, however long ago the 差评 was pressed', async () => {
    const e = await setup('2026-10-08T09:00:00', { alerts: { minTotal: 5 } });
    const queue = (id: string, kind: string, payload: object) => queueByHand(e.db, id, kind, e.clock.t, payload);
    const base = {
      hall: 'misuse-hall',
      device: 'ev-002',
      window: '02',
      staffId: null,
      reasons: [],
      text: null,
      session: { id: 'sd', cases: ['C1'], itemCode: 'X1', itemName: '户籍' },
      assessedAt: e.clock.t,
      clockSynced: true,
      flags: [],
      record: null,
    };
    // Window 02 within the hour: 2 差评, 3 satisfied and 2 of the hub's 7-day defaults. 2 of 7 is under the 30 % share.
    for (const level of [1, 2, 4, 5, 5]) store(e, { window: '02', level });
    queue('def-1', 'default', { ...base, id: 'def-1', kind: 'default', level: 3, assessNumber: 1, supersedes: null });
    queue('def-2', 'default', { ...base, id: 'def-2', kind: 'default', level: 3, assessNumber: 1, supersedes: null });
    e.sync.syncNow();
    expect(alertsOf(e)).toEqual([]);
    // The real rating behind def-1 comes from an evaluator cut off for days: a 差评 pressed before
    // the hour (not in its count), and def-1 leaves the count: 2 of 6.
    const late = store(e, { window: '02', level: 1, at: e.clock.t - 3 * 24 * 60 * 60_000 });
    queue('cor-1', 'correction', { ...base, id: late, kind: 'correction', level: 1, assessNumber: 2, supersedes: 'def-1' });
    e.sync.syncNow();
    expect(alertsOf(e)).toEqual([{ window: '02', kind: 'share', bad: 2 }]);
  });

  it('thresholds are configuration, and the 差评 clusters keep their own quiet time', async () => {
    const e = await setup('2026-10-08T09:00:00', { misuseAlerts: { burst: { min: 2, seconds: 3 } } });
    store(e, { window: '01', level: 5 });
    e.clock.t += 2_000;
    store(e, { window: '01', level: 5 });
    e.sync.syncNow();
    expect(alertsOf(e)).toEqual([{ window: '01', kind: 'burst', bad: 2 }]);
    for (let i = 0; i < 3; i++) store(e, { window: '01', level: 1 });
    e.clock.t += 60_000;
    e.sync.syncNow();
    expect(
      alertsOf(e)
        .map((a) => a.kind)
        .sort(),
    ).toEqual(['burst', 'count']);
    expect(() => MisuseRuleSchema.parse({ burst: { min: 1 } })).toThrow();
  });
});

describe('the misuse rules are pure', () => {
  it('longestBurst finds the longest run of presses each within the gap of the last', () => {
    expect(longestBurst([], 1000)).toMatchObject({ length: 0 });
    expect(longestBurst([0, 500, 5000, 5400, 5800, 6200, 20_000], 1000)).toEqual({ length: 4, from: 5000, to: 6200 });
  });

  it('flaggedHigh needs enough presses, a flagged majority and a margin over the hall', () => {
    const rule = MisuseRuleSchema.parse({}).flaggedHigh;
    expect(flaggedHigh(rule, { presses: 10, satisfied: 10, flagged: 6 }, 0.9)).toBe(true);
    expect(flaggedHigh(rule, { presses: 10, satisfied: 10, flagged: 4 }, 0.9)).toBe(false);
    expect(flaggedHigh(rule, { presses: 9, satisfied: 9, flagged: 9 }, 0.5)).toBe(false);
    expect(flaggedHigh(rule, { presses: 10, satisfied: 10, flagged: 10 }, 0.97)).toBe(false);
  });
});

describe('a 差评 still without a reason gets a task on its work order (Ankang art. 8)', () => {
  it('where the hall requires a reason, the order of a 差评 without one says to obtain it; with a reason, or without the policy, it does not', async () => {
    const e = await setup('2026-10-08T09:00:00');
    const before = store(e, { window: '01', level: 2 });
    e.sync.syncNow();
    expect(e.web.workOrders.trail(e.web.workOrders.byRating(before)!.id)[0]).toMatchObject({ action: 'create', note: null });

    e.web.d.registry.setHallSettings({ reasonRequired: true });
    const without = store(e, { window: '01', level: 1 });
    const withReason = store(e, { window: '02', level: 2, reasons: ['213'] });
    e.sync.syncNow();
    const order = e.web.workOrders.byRating(without)!;
    expect(e.web.workOrders.trail(order.id)[0]).toMatchObject({
      action: 'create',
      note: REASON_TASK_NOTE,
      data: { task: 'obtain-reason' },
    });
    expect(e.web.workOrders.trail(e.web.workOrders.byRating(withReason)!.id)[0]).toMatchObject({ note: null });
    // The trail is still a valid hash chain with the task in it; the order page shows the task.
    expect(e.web.workOrders.verifyTrail()).toBeNull();
    await e.web.users.add('test', { name: 'viewer2', role: 'viewer', password: 'viewer-password-2' });
    const login = await e.app.inject({
      method: 'POST',
      url: '/api/hall/login',
      payload: { name: 'viewer2', password: 'viewer-password-2' },
    });
    const page = await e.app.inject({
      method: 'GET',
      url: `/workorders/${order.id}`,
      headers: { cookie: String(login.headers['set-cookie']).split(';')[0]! },
    });
    expect(page.body).toContain('id="reason-task"');
  });
});
