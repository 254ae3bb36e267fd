/**
 * The hall page's HTTP API with a fake clock, over a real SQLite file: log-in, sessions that
 * expire, roles and CSRF; every work order state change and deadline; the append-only trail;
 * statistics that drop a 差评 judged invalid; cluster alerts; CSV; defaults as a channel.
 */
import { closeWebEnv, queueByHand, type WebEnvBase } from '../helpers/web-env.js';
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubEvents } from '../../hub/events.js';
import { createMetrics, type Metrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb } from '../../hub/store/db.js';
import { HallWeb } from '../../hub/web/hall-web.js';
import { FactSync } from '../../hub/facts/fact-sync.js';
import { webRoutes } from '../../hub/web/routes.js';
import { splitPeriod } from '../../hub/stats/queries.js';
import type { WebConfigInput } from '../../hub/web/config.js';
import { captureLog, type CapturedLog } from '../helpers/log.js';

const china = (s: string) => Date.parse(s + '+08:00');

interface Env extends WebEnvBase {
  clock: { t: number };
  metrics: Metrics;
  log: CapturedLog;
  seq: Map<string, number>;
}
let env: Env | null = null;
afterEach(async () => {
  if (env) await closeWebEnv(env);
  env = null;
});

async function setup(start: string, config: WebConfigInput = {}): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-web-'));
  const db = openHubDb(join(dir, 'hub.db'));
  const clock = { t: china(start) };
  const now = () => clock.t;
  const log = captureLog('info');
  const registry = new Registry(db, 'api-hall', now);
  for (const w of ['01', '02', '03'])
    registry.add({ window: w, id: `ev-0${w}`, settings: { staff: { id: `S${w}`, name: `员工${w}`, number: w, photo: null } } });
  const metrics = createMetrics();
  const events = new EventEmitter<HubEvents>();
  const web = HallWeb.open({
    db,
    registry,
    status: new DeviceStatusStore(db, log.log, () => {}, now),
    events,
    log: log.log,
    metrics,
    config: { policy: 'ankang', ...config },
    dataDir: dir,
    now,
  });
  const sync = new FactSync({ records: web.records, events, log: log.log, metrics });

  await web.users.add('test', { name: 'admin1', role: 'admin', password: 'admin-password-1' });
  await web.users.add('test', { name: 'admin2', role: 'admin', password: 'admin-password-2' });
  await web.users.add('test', { name: 'sup', role: 'supervisor', password: 'supervisor-pw-1' });
  await web.users.add('test', { name: 'wall', role: 'viewer', password: 'viewer-password' });
  const app = Fastify();
  await app.register(webRoutes, web);
  await app.ready();
  env = { dir, db, web, sync, app, clock, metrics, log, seq: new Map() };
  return env;
}

let ids = 0;
/** Stores a rating as ingest would (the row, with its record as body) at the current fake time. */
function store(
  e: Env,
  o: { window: string; level: number; at?: number; item?: [string, string]; cases?: string[]; reasons?: string[] },
): string {
  const device = `ev-0${o.window}`;
  const seq = (e.seq.get(device) ?? 0) + 1;
  e.seq.set(device, seq);
  const id = `01900000-0000-7000-8000-${String(++ids).padStart(12, '0')}`;
  const at = o.at ?? e.clock.t;
  const session = o.item ? { id: `s${ids}`, cases: o.cases ?? [`BJ${ids}`], itemCode: o.item[0], itemName: o.item[1] } : null;
  const body = {
    v: 1,
    id,
    hall: 'api-hall',
    device,
    window: o.window,
    staffId: `S${o.window}`,
    seq,
    kind: 'rating',
    level: o.level,
    reasons: o.reasons ?? [],
    catalogue: 'builtin',
    session,
    at,
    clockSynced: true,
    flags: [],
  };
  e.db
    .prepare(
      `INSERT INTO ratings (id, device, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, ?, ?, 'api-hall', ?, ?, 'rating', ?, ?, ?, '[]', ?, 1, ?, ?, ?)`,
    )
    .run(
      id,
      device,
      seq,
      o.window,
      `S${o.window}`,
      o.level,
      JSON.stringify(body.reasons),
      session?.id ?? null,
      at,
      e.clock.t,
      id.replace(/-/g, '').padEnd(64, '0'),
      JSON.stringify(body),
    );
  return id;
}

interface Session {
  cookie: string;
  csrf: string;
}
async function login(e: Env, name: string, password: string): Promise<Session> {
  const r = await e.app.inject({ method: 'POST', url: '/api/hall/login', payload: { name, password } });
  expect(r.statusCode, r.body).toBe(200);
  const cookie = String(r.headers['set-cookie']).split(';')[0]!;
  return { cookie, csrf: r.json().csrf };
}
const get = (e: Env, s: Session | null, url: string) => e.app.inject({ method: 'GET', url, headers: s ? { cookie: s.cookie } : {} });
const post = (e: Env, s: Session, url: string, payload: unknown, csrf = true) =>
  e.app.inject({
    method: 'POST',
    url,
    payload: payload as object,
    headers: { cookie: s.cookie, ...(csrf ? { 'x-csrf-token': s.csrf } : {}) },
  });
async function act(e: Env, s: Session, id: number, cmd: Record<string, unknown>) {
  const r = await post(e, s, `/api/hall/workorders/${id}/actions`, cmd);
  return { status: r.statusCode, body: r.json() };
}

describe('staff log-in and sessions', () => {
  it('locks an account after five wrong passwords, for ten minutes', async () => {
    const e = await setup('2026-10-08T09:00:00');
    for (let i = 0; i < 4; i++)
      expect(
        (await e.app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'sup', password: 'nope-nope-nope' } })).statusCode,
      ).toBe(401);
    expect(
      (await e.app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'sup', password: 'nope-nope-nope' } })).statusCode,
    ).toBe(429);
    expect(
      (await e.app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'sup', password: 'supervisor-pw-1' } })).statusCode,
    ).toBe(429);
    e.clock.t += 10 * 60_000 + 1;
    await login(e, 'sup', 'supervisor-pw-1');
    const actions = e.web.audit.recent().map((r) => `${r.actor}:${r.action}`);
    expect(actions.filter((a) => a === 'sup:login-failed')).toHaveLength(6);
    expect(actions[0]).toBe('sup:login');
  });

  it('ends a session after 2 hours idle and after 12 hours at most, and at log-out', async () => {
    const e = await setup('2026-10-08T09:00:00');
    const s = await login(e, 'wall', 'viewer-password');
    e.clock.t += 119 * 60_000;
    expect((await get(e, s, '/api/hall/me')).statusCode).toBe(200); // activity keeps it alive
    e.clock.t += 119 * 60_000;
    expect((await get(e, s, '/api/hall/me')).statusCode).toBe(200);
    e.clock.t += 121 * 60_000;
    expect((await get(e, s, '/api/hall/me')).statusCode).toBe(401); // idle too long

    const s2 = await login(e, 'wall', 'viewer-password');
    for (let h = 1; h < 12; h++) {
      e.clock.t += 3_600_000;
      expect((await get(e, s2, '/api/hall/me')).statusCode).toBe(200);
    }
    e.clock.t += 3_600_000;
    expect((await get(e, s2, '/api/hall/me')).statusCode).toBe(401); // 12 hours after log-in

    const s3 = await login(e, 'wall', 'viewer-password');
    expect((await post(e, s3, '/api/hall/logout', {})).statusCode).toBe(200);
    expect((await get(e, s3, '/api/hall/me')).statusCode).toBe(401);
    // Pages send people without a session to the log-in page.
    const page = await get(e, null, '/wall');
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/login?next=%2Fwall');
  });

  it('a disabled account loses its sessions; the last admin cannot be disabled', async () => {
    const e = await setup('2026-10-08T09:00:00');
    const s = await login(e, 'sup', 'supervisor-pw-1');
    e.web.users.setDisabled('admin1', 'sup', true);
    expect((await get(e, s, '/api/hall/me')).statusCode).toBe(401);
    expect(
      (await e.app.inject({ method: 'POST', url: '/api/hall/login', payload: { name: 'sup', password: 'supervisor-pw-1' } })).statusCode,
    ).toBe(401);
    e.web.users.setDisabled('admin1', 'admin2', true);
    expect(() => e.web.users.setDisabled('admin1', 'admin1', true)).toThrow(/last admin/);
  });
});

describe('work orders over the API, with the Ankang deadlines and a fake clock', () => {
  it('opens one order per 差评, automatically and only once', async () => {
    const e = await setup('2026-09-30T10:00:00');
    store(e, { window: '01', level: 5 });
    const bad = store(e, { window: '01', level: 1, item: ['11610000XX', '不动产登记'], cases: ['BDC-1', 'BDC-2'], reasons: ['115'] });
    store(e, { window: '02', level: 2 });
    expect(e.sync.syncNow()).toBe(3);
    const o = e.web.workOrders.byRating(bad)!;
    expect(o).toMatchObject({
      state: 'new',
      window: '01',
      level: 1,
      itemName: '不动产登记',
      cases: ['BDC-1', 'BDC-2'],
      reasons: ['115'],
      dueAt: china('2026-10-10T00:00:00'),
      profile: 'ankang',
    });
    // Catching up again (a restart, a duplicate event) creates nothing new.
    e.db.prepare("UPDATE stat_watermark SET last_rowid = 0 WHERE source = 'ratings'").run();
    expect(e.sync.syncNow()).toBe(0);
    expect(e.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM work_orders').get()!.n).toBe(2);
    expect(e.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM rating_facts').get()!.n).toBe(3);
  });

  it('takes an order through every state, with its deadline at each step and who did it', async () => {
    const e = await setup('2026-09-30T10:00:00');
    store(e, { window: '01', level: 1 });
    e.sync.syncNow();
    const id = e.web.workOrders.list()[0]!.id;
    e.clock.t = china('2026-10-08T09:00:00');
    let sup = await login(e, 'sup', 'supervisor-pw-1');
    let viewer = await login(e, 'wall', 'viewer-password');

    expect((await act(e, viewer, id, { type: 'start-verify' })).status).toBe(403);
    expect((await post(e, sup, `/api/hall/workorders/${id}/actions`, { type: 'start-verify' }, false)).statusCode).toBe(403); // no CSRF token

    let r = await act(e, sup, id, { type: 'start-verify', version: 1 });
    expect(r.body.order).toMatchObject({ state: 'verifying', dueAt: china('2026-10-10T00:00:00'), overdue: false });
    expect((await act(e, sup, id, { type: 'confirm', class: 'simple', version: 1 })).status).toBe(409); // a stale form

    r = await act(e, sup, id, { type: 'confirm', class: 'simple', note: '属实', version: 2 });
    expect(r.body.order).toMatchObject({ state: 'rectifying', class: 'simple', dueAt: china('2026-10-14T00:00:00') });
    r = await act(e, sup, id, { type: 'extend', amount: 9, note: '需协调' });
    expect(r.status).toBe(400);
    r = await act(e, sup, id, { type: 'extend', amount: 5, note: '需协调' });
    expect(r.body.order).toMatchObject({ state: 'rectifying', extensions: 1, dueAt: china('2026-10-21T00:00:00') });
    expect((await act(e, sup, id, { type: 'extend', amount: 1, note: '再延' })).body.error).toBe('limit-reached');

    // Past the limit the order is overdue, in the list and the counts.
    e.clock.t = china('2026-10-21T08:00:00');
    sup = await login(e, 'sup', 'supervisor-pw-1'); // the old sessions ended overnight
    viewer = await login(e, 'wall', 'viewer-password');
    const overdue = (await get(e, viewer, '/api/hall/workorders?state=overdue')).json();
    expect(overdue.orders.map((o: { id: number }) => o.id)).toEqual([id]);
    expect(overdue.counts).toEqual({ open: 1, overdue: 1 });

    r = await act(e, sup, id, { type: 'rectify', note: '已培训整改' });
    expect(r.body.order).toMatchObject({ state: 'revisit', lateStages: 1, dueAt: china('2026-10-29T00:00:00'), overdue: false }); // 22, 23, 26, 27, 28
    r = await act(e, sup, id, { type: 'revisit', satisfied: false, note: '仍不满意' });
    expect(r.body.order).toMatchObject({ state: 'rectifying', redos: 1, dueAt: china('2026-10-29T00:00:00') });
    r = await act(e, sup, id, { type: 'rectify', note: '重办完成' });
    r = await act(e, sup, id, { type: 'revisit', satisfied: true, note: '满意' });
    expect(r.body.order).toMatchObject({ state: 'closed', outcome: 'resolved', dueAt: null });
    expect((await act(e, sup, id, { type: 'comment', note: '补充' })).status).toBe(409);

    const detail = (await get(e, viewer, `/api/hall/workorders/${id}`)).json();
    expect(detail.allowed).toEqual([]);
    expect(detail.trail.map((t: { action: string; actor: string; to: string }) => `${t.actor} ${t.action} ${t.to}`)).toEqual([
      'system create new',
      'sup start-verify verifying',
      'sup confirm rectifying',
      'sup extend rectifying',
      'sup rectify revisit',
      'sup revisit rectifying',
      'sup rectify revisit',
      'sup revisit closed',
    ]);
    expect(detail.trail[4]).toMatchObject({ at: china('2026-10-21T08:00:00'), data: { late: true } });
    expect(e.web.workOrders.verifyTrail()).toBeNull();
  });

  it('an appeal judged invalid takes the 差评 out of the statistics, but keeps the record', async () => {
    const e = await setup('2026-10-08T09:00:00');
    store(e, { window: '01', level: 5 });
    store(e, { window: '01', level: 4 });
    const bad = store(e, { window: '01', level: 2 });
    store(e, { window: '02', level: 1 });
    e.sync.syncNow();
    const order = e.web.workOrders.byRating(bad)!;
    let sup = await login(e, 'sup', 'supervisor-pw-1');
    const stats = async (from = '2026-10-08') => (await get(e, sup, `/api/hall/stats?from=${from}&to=2026-10-13`)).json();
    expect((await stats()).summary).toMatchObject({ total: 4, bad: 2, invalid: 0 });

    e.clock.t = china('2026-10-10T17:00:00'); // the 2nd working day after receipt (Fri 9, Sat 10 调休): still in time
    sup = await login(e, 'sup', 'supervisor-pw-1');
    const admin1 = await login(e, 'admin1', 'admin-password-1');
    const admin2 = await login(e, 'admin2', 'admin-password-2');
    expect((await act(e, admin1, order.id, { type: 'appeal', note: '监控显示系误按' })).body.order.state).toBe('appealed');
    expect((await act(e, sup, order.id, { type: 'judge', outcome: 'invalid', note: 'x' })).status).toBe(403);
    expect((await act(e, admin1, order.id, { type: 'judge', outcome: 'invalid', note: 'x' })).body.error).toBe('own-appeal');
    const judged = await act(e, admin2, order.id, { type: 'judge', outcome: 'invalid', note: '属误评，不予采纳' });
    expect(judged.body.order).toMatchObject({ state: 'invalid', appealOutcome: 'invalid' });

    const s = await stats();
    expect(s.summary).toMatchObject({ total: 3, bad: 1, n2: 0, invalid: 1 });
    expect(s.tables.window.find((r: { key: string }) => r.key === '01').counts).toMatchObject({
      total: 2,
      n2: 0,
      invalid: 1,
      satisfaction: 1,
    });
    expect(s.invalidated).toEqual([expect.objectContaining({ id: bad, order_id: order.id, level: 2 })]);
    expect(e.db.prepare<[string], { level: number }>('SELECT level FROM ratings WHERE id = ?').get(bad)!.level).toBe(2);
    expect(e.web.facts.checkRollups()).toEqual([]);

    // An appeal after 2 working days is refused.
    const late = e.web.workOrders.list({ state: 'new' })[0]!;
    e.clock.t = china('2026-10-11T09:00:00');
    sup = await login(e, 'sup', 'supervisor-pw-1');
    expect((await act(e, sup, late.id, { type: 'appeal', note: '误按' })).body.error).toBe('too-late');
  });

  it('keeps the trail append-only in SQLite itself, and detects a changed row', async () => {
    const e = await setup('2026-10-08T09:00:00');
    store(e, { window: '01', level: 1 });
    e.sync.syncNow();
    const id = e.web.workOrders.list()[0]!.id;
    e.web.workOrders.act(id, { type: 'start-verify' }, { name: 'sup', role: 'supervisor' });
    expect(() => e.db.prepare("UPDATE work_order_events SET actor = 'someone-else'").run()).toThrow(/append-only/);
    expect(() => e.db.prepare('DELETE FROM work_order_events').run()).toThrow(/append-only/);
    expect(() => e.db.prepare("UPDATE work_orders SET state = 'closed', version = version + 1").run()).toThrow(/audit event/);
    expect(() => e.db.prepare('DELETE FROM work_orders').run()).toThrow(/never deleted/);
    expect(() => e.db.prepare("UPDATE audit_log SET actor = 'x'").run()).toThrow(/append-only/);
    expect(() => e.db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(e.web.workOrders.verifyTrail()).toBeNull();
    expect(e.web.audit.verify()).toBeNull();
    // Someone with the file and sqlite3 can drop the trigger — the hash chain still tells.
    e.db.exec('DROP TRIGGER work_order_events_append_only_u');
    e.db.prepare("UPDATE work_order_events SET note = 'rewritten' WHERE version = 2").run();
    expect(e.web.workOrders.verifyTrail()).toMatchObject({ reason: 'content does not match its hash' });
  });
});

describe('statistics', () => {
  it('agree with a direct count of the stored records, per window, staff, item, day and month', async () => {
    const e = await setup('2026-01-01T08:00:00');
    let x = 7;
    const rnd = (n: number) => (x = (x * 1103515245 + 12345) % 2 ** 31) % n;
    for (let i = 0; i < 600; i++) {
      e.clock.t = china('2026-01-01T08:00:00') + rnd(80) * 86_400_000 + rnd(10 * 3600) * 1000;
      store(e, { window: ['01', '02', '03'][rnd(3)]!, level: 1 + rnd(5), item: rnd(4) ? [`I${rnd(5)}`, `事项${rnd(5)}`] : undefined });
    }
    e.sync.syncNow();
    const s = e.web.stats;
    const from = 20454; // 2026-01-01 as a day number
    const direct = e.db
      .prepare<[], { window: string; n: number; bad: number }>(
        "SELECT window, count(*) AS n, sum(level <= 2) AS bad FROM ratings WHERE kind = 'rating' GROUP BY window",
      )
      .all();
    const rows = s.byDim('window', from, from + 100);
    for (const d of direct) expect(rows.find((r) => r.key === d.window)!.counts).toMatchObject({ total: d.n, bad: d.bad });
    const items = e.db
      .prepare<[], { item: string; n: number }>(
        "SELECT coalesce(json_extract(body, '$.session.itemCode'), '') AS item, count(*) AS n FROM ratings GROUP BY 1",
      )
      .all();
    for (const d of items) expect(s.byDim('item', from, from + 100).find((r) => r.key === d.item)!.counts.total).toBe(d.n);
    // A period with ragged ends (15 Jan – 10 Mar): whole February from the monthly counts, the rest by day.
    const ragged = e.db
      .prepare<[number, number], { window: string; n: number; n1: number }>(
        'SELECT window, count(*) AS n, sum(level = 1) AS n1 FROM ratings WHERE device_at >= ? AND device_at < ? GROUP BY window',
      )
      .all(china('2026-01-15T00:00:00'), china('2026-03-11T00:00:00'));
    const raggedRows = s.byDim('window', from + 14, from + 68);
    for (const d of ragged) expect(raggedRows.find((r) => r.key === d.window)!.counts).toMatchObject({ total: d.n, n1: d.n1 });
    expect(splitPeriod(from + 14, from + 68)).toMatchObject({
      m1: 2026 * 12 + 1,
      m2: 2026 * 12 + 1,
      a1: from + 14,
      b1: from + 30,
      a2: from + 59,
      b2: from + 68,
    });
    expect(splitPeriod(from + 3, from + 9)).toMatchObject({ m1: 1, m2: 0, a1: from + 3, b1: from + 9 });
    const months = s.trend(from, from + 100, 'month');
    expect(months.map((m) => m.period)).toEqual(['2026-01', '2026-02', '2026-03']);
    expect(months.reduce((a, m) => a + m.counts.total, 0)).toBe(600);
    const weeks = s.trend(from, from + 100, 'week');
    expect(weeks[0]!.period).toBe('2025-12-29'); // the Monday of the week 1 January falls in
    expect(e.web.facts.checkRollups()).toEqual([]);
    e.db.exec(
      'UPDATE stat_daily SET n5 = n5 + 1 WHERE rowid IN (SELECT rowid FROM stat_daily LIMIT 1)'.replace(
        'rowid IN (SELECT rowid FROM stat_daily LIMIT 1)',
        "dim = 'hall' AND day = (SELECT min(day) FROM stat_daily)",
      ),
    );
    expect(e.web.facts.checkRollups()).toHaveLength(2); // the kept daily row and the recount differ
    e.web.facts.rebuildRollups();
    expect(e.web.facts.checkRollups()).toEqual([]);
  });

  it("counts the hub's 7-day defaults as their own channel, and drops one a late real rating replaced", async () => {
    const e = await setup('2026-10-08T09:00:00');
    const enqueue = (id: string, kind: string, payload: object) => queueByHand(e.db, id, kind, e.clock.t, payload);
    const base = {
      hall: 'api-hall',
      device: 'ev-001',
      window: '01',
      staffId: 'S01',
      reasons: [],
      text: null,
      session: { id: 's1', cases: ['C1'], itemCode: 'I1', itemName: '事项' },
      assessedAt: e.clock.t,
      clockSynced: true,
      flags: [],
      record: null,
    };
    enqueue('def-1', 'default', { ...base, id: 'def-1', kind: 'default', level: 3, assessNumber: 1, supersedes: null });
    enqueue('def-2', 'default', { ...base, id: 'def-2', kind: 'default', level: 3, assessNumber: 1, supersedes: null });
    e.sync.syncNow();
    expect(e.web.stats.byDim('channel', 20734, 20734)).toEqual([{ key: 'default', counts: expect.objectContaining({ total: 2, n3: 2 }) }]);
    enqueue('real-1', 'correction', { ...base, id: 'real-1', kind: 'correction', level: 5, assessNumber: 2, supersedes: 'def-1' });
    e.sync.syncNow();
    expect(e.web.stats.byDim('channel', 20734, 20734)[0]!.counts).toMatchObject({ total: 1, invalid: 0 });
    expect(e.web.facts.checkRollups()).toEqual([]);
  });

  it('exports CSV that a spreadsheet opens in Chinese, and audits the export', async () => {
    const e = await setup('2026-10-08T09:00:00');
    store(e, { window: '01', level: 5, item: ['=1+1', '恶意"公式'] });
    store(e, { window: '01', level: 1 });
    e.sync.syncNow();
    const s = await login(e, 'wall', 'viewer-password');
    const r = await get(e, s, '/stats.csv?preset=today&table=item');
    expect(r.headers['content-type']).toContain('text/csv');
    expect(
      r.body.startsWith('\uFEFF事项,非常满意,满意,基本满意,不满意,非常不满意,有效评价,满意率,差评率,无效差评,已标记,异常不计入\r\n'),
    ).toBe(true);
    expect(r.body).toContain(`"恶意""公式（=1+1）",1,0,0,0,0,1,100.00%,0.00%,0`);
    expect(r.body).toContain('（未登记）,0,0,0,0,1,1,0.00%,100.00%,0');
    expect(e.web.audit.recent(1)[0]).toMatchObject({ actor: 'wall', action: 'export-csv', target: 'item' });
  });
});

describe('差评 cluster alerts', () => {
  it('fires once when 3 差评 land at one window within an hour: on the API, in the log and as a metric', async () => {
    const e = await setup('2026-10-08T09:00:00');
    store(e, { window: '01', level: 1 });
    e.clock.t += 20 * 60_000;
    store(e, { window: '01', level: 2 });
    store(e, { window: '02', level: 1 });
    e.sync.syncNow();
    expect(e.web.alerts.list()).toEqual([]);
    e.clock.t += 20 * 60_000;
    store(e, { window: '01', level: 1 });
    e.sync.syncNow();
    expect(e.web.alerts.list()).toEqual([expect.objectContaining({ window: '01', kind: 'count', bad: 3, total: 3, minutes: 60 })]);
    e.clock.t += 5 * 60_000;
    store(e, { window: '01', level: 1 }); // still within the quiet hour: no second alert
    e.sync.syncNow();
    expect(e.web.alerts.list()).toHaveLength(1);
    expect(e.log.find('差评 cluster at a window')).toEqual([expect.objectContaining({ window: '01', bad: 3 })]);
    expect(await e.metrics.registry.getSingleMetricAsString('hcp_bad_review_alerts_total')).toContain(
      'hcp_bad_review_alerts_total{window="01"} 1',
    );

    const sup = await login(e, 'sup', 'supervisor-pw-1');
    const alert = (await get(e, sup, '/api/hall/alerts')).json().alerts[0];
    expect((await post(e, sup, `/api/hall/alerts/${alert.id}/ack`, {})).statusCode).toBe(200);
    expect(e.web.alerts.open()).toEqual([]);
    expect(e.web.audit.recent(1)[0]).toMatchObject({ actor: 'sup', action: 'alert-ack' });
  });

  it('fires on the share of 差评 once a window has enough ratings', async () => {
    // Eight top ratings stored at one instant would also be a misuse burst; this test is about shares.
    const e = await setup('2026-10-08T09:00:00', {
      alerts: { minBad: 50, share: 0.2, minTotal: 10 },
      misuseAlerts: { burst: { min: 100 } },
    });
    for (let i = 0; i < 8; i++) store(e, { window: '03', level: 5 });
    store(e, { window: '03', level: 2 });
    e.sync.syncNow();
    expect(e.web.alerts.list()).toEqual([]); // 1 of 9
    store(e, { window: '03', level: 2 });
    e.sync.syncNow();
    expect(e.web.alerts.list()).toEqual([expect.objectContaining({ window: '03', kind: 'share', bad: 2, total: 10 })]);
  });
});
