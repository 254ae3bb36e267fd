/**
 * Every 差评 outcome leaves the hall (issue 12): a work order's steps reach the stand-in province
 * as milestones, each exactly once, through an outage and through a hub killed with SIGKILL; an
 * appeal that finds the 差评 invalid reaches it as an invalidation and it stops counting the
 * evaluation; a 差评 handed on (转办) reaches the hand-off destination through its own queue.
 * Real parts: a hub, a device agent, the stand-in province over HTTP, the hall page's JSON API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INITIAL_PASSWORD_FILE } from '../../hub/web/hall-web.js';
import { startProvince, type Province } from '../../simulator/province/province.js';
import { TestHall, type TestDevice } from '../helpers/hall.js';
import { silentLog } from '../helpers/log.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { seeded } from './helpers.js';

let hall: TestHall | null = null;
let others: Province[] = [];
afterEach(async () => {
  await hall?.close();
  hall = null;
  for (const p of others) await p.close();
  others = [];
});

/** A member of staff logged in to the hall page's JSON API (cookie + CSRF), as the page does it. */
async function staff(base: string, name: string, password: string) {
  const r = await fetch(`${base}/api/hall/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
  });
  expect(r.status).toBe(200);
  const cookie = r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const { csrf } = (await r.json()) as { csrf: string };
  const call = async <T>(path: string, body?: unknown): Promise<{ status: number; json: T; text: string }> => {
    const res = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { cookie, 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: T = undefined as T;
    try {
      json = JSON.parse(text) as T;
    } catch {
      /* an HTML page */
    }
    return { status: res.status, json, text };
  };
  return {
    call,
    async act(id: number, action: Record<string, unknown>): Promise<{ state: string; outcome: string | null }> {
      const res = await call<{ order: { state: string; outcome: string | null } }>(`/api/hall/workorders/${id}/actions`, action);
      if (res.status !== 200) throw new Error(`${String(action.type)} on order ${id}: ${res.status} ${res.text}`);
      return res.json.order;
    },
  };
}

interface OrderView {
  id: number;
  ratingId: string;
  state: string;
}

/** Presses 非常不满意 on the device (button 4 = level 1) and waits for its work order. */
async function badReview(h: TestHall, d: TestDevice, admin: Awaited<ReturnType<typeof staff>>): Promise<OrderView> {
  const before = d.stored.length;
  d.rate(4);
  await waitFor(() => d.stored.length > before, 'the device to store the 差评');
  const rating = d.stored.at(-1)!;
  expect(rating.level).toBe(1);
  return waitFor(
    async () =>
      (await admin.call<{ orders: OrderView[] }>('/api/hall/workorders?state=all')).json.orders.find((o) => o.ratingId === rating.id) ??
      null,
    'its work order',
  );
}

interface Listed {
  stream: string;
  key: string;
  evaluationKey: string | null;
  received: number;
  message: Record<string, unknown>;
}
const messagesAt = async (p: Province, stream: string, evaluation?: string): Promise<Listed[]> =>
  (
    (await (await fetch(`${p.url}/api/messages?stream=${stream}${evaluation ? `&evaluation=${evaluation}` : ''}`)).json()) as {
      messages: Listed[];
    }
  ).messages;

const COMMON = { profile: 'common', areaCode: '420100', deptCode: '11420100MB0000000X', batchSize: 20, retry: { baseMs: 50, maxMs: 300 } };

describe('a 差评 handled in the hall reaches the province step by step (common profile)', () => {
  it('verify → rectify → revisit → close: each milestone once, in order, though the province was down while they happened', async () => {
    hall = await TestHall.start({ province: { profile: 'common' }, forward: COMMON });
    const web = hall.hub!.web;
    await web.users.add('test', { name: 'sup', role: 'supervisor', password: 'supervisor-pw-1' });
    const sup = await staff(hall.hubUrl, 'sup', 'supervisor-pw-1');
    const d = await hall.addDevice('07');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    const order = await badReview(hall, d, sup);
    await waitFor(() => hall!.province.stats().accepted === 1, 'the 差评 at the province');

    await hall.stopProvince();
    await sup.act(order.id, { type: 'start-verify' }); // stays in the hall
    await sup.act(order.id, { type: 'confirm', class: 'simple', note: '经核实，窗口未提供材料样本' });
    await sup.act(order.id, { type: 'rectify', note: '已在窗口摆放材料样本，并对工作人员进行培训' });
    await sup.act(order.id, { type: 'comment', note: '已电话联系评价人' }); // stays in the hall
    const closed = await sup.act(order.id, { type: 'revisit', satisfied: true, note: '评价人表示满意' });
    expect(closed).toMatchObject({ state: 'closed', outcome: 'resolved' });

    // Down: the four milestones wait on the durable queue, nothing is lost or dropped.
    const pending = hall
      .hub!.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM forward_queue WHERE kind = 'milestone' AND state = 'pending'")
      .get()!.n;
    expect(pending).toBe(4);
    expect((await sup.call(`/workorders/${order.id}`)).text).toContain('待上报');
    await sleep(400); // a few failed pushes

    await hall.startProvince();
    await waitFor(() => hall!.province.stats().messages.milestone!.accepted === 4, 'the four milestones at the province', 20_000);
    await sleep(300); // a late duplicate, if any, would show up now
    const got = await messagesAt(hall.province, 'milestone');
    expect(got.map((m) => [m.message.handleType, m.message.handleResult ?? null])).toEqual([
      ['verified', 'valid'],
      ['rectified', null],
      ['revisited', 'satisfied'],
      ['closed', 'resolved'],
    ]);
    for (const m of got)
      expect(m).toMatchObject({
        evaluationKey: order.ratingId,
        received: 1,
        message: { evaluationId: order.ratingId, orderNo: order.id, areaCode: '420100' },
      });
    expect(got[0]!.message).toMatchObject({ handleOpinion: '经核实，窗口未提供材料样本', handleClass: 'simple', overdue: false });
    expect(got[1]!.message.handleOpinion).toBe('已在窗口摆放材料样本，并对工作人员进行培训');
    expect(got[0]!.message.handleTime).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(hall.province.stats().messages.milestone).toEqual({ received: 4, accepted: 4, duplicatesReceived: 0, rejected: 0 });
    // The hub marked each forwarded: nothing left to send.
    await waitFor(
      () => hall!.hub!.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM forward_queue WHERE state <> 'done'").get()!.n === 0,
      'the queue drained',
    );
    // The order's page and JSON show what went out and that it arrived.
    const view = await sup.call<{ outbound: { kind: string; type: string | null; state: string }[] }>(`/api/hall/workorders/${order.id}`);
    expect(view.json.outbound.map((x) => [x.kind, x.type, x.state])).toEqual([
      ['rating', null, 'done'],
      ['milestone', 'verified', 'done'],
      ['milestone', 'rectified', 'done'],
      ['milestone', 'revisited', 'done'],
      ['milestone', 'closed', 'done'],
    ]);
    const page = await sup.call(`/workorders/${order.id}`);
    expect(page.text).toContain('上报情况');
    expect(page.text).toContain('办理进度：整改');
  });

  it('an appeal found 无效差评: the province gets the decision and an invalidation and stops counting the evaluation; the hall keeps the rating, marked', async () => {
    // Half the answers are lost after the province stored the batch: resends must come back "duplicate".
    hall = await TestHall.start({ province: { profile: 'common', random: seeded(12) }, forward: COMMON });
    const web = hall.hub!.web;
    await web.users.add('test', { name: 'sup', role: 'supervisor', password: 'supervisor-pw-1' });
    await web.users.add('test', { name: 'boss', role: 'admin', password: 'admin-password-1' });
    const sup = await staff(hall.hubUrl, 'sup', 'supervisor-pw-1');
    const boss = await staff(hall.hubUrl, 'boss', 'admin-password-1');
    const d = await hall.addDevice('03');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    const kept = await badReview(hall, d, sup);
    const order = await badReview(hall, d, sup);
    await waitFor(() => hall!.province.stats().accepted === 2, 'both 差评 at the province');
    expect(hall.province.stats()).toMatchObject({ counted: 2, invalidated: 0 });

    hall.province.setFaults({ drop: 0.5 });
    await sup.act(order.id, { type: 'appeal', note: '评价人误按，监控录像显示其对办理结果表示满意' });
    const judged = await boss.act(order.id, { type: 'judge', outcome: 'invalid', note: '经复核，属误评' });
    expect(judged).toMatchObject({ state: 'invalid', outcome: 'invalid' });

    await waitFor(() => hall!.province.stats().invalidated === 1, 'the invalidation at the province', 20_000);
    await waitFor(() => hall!.province.stats().messages.milestone!.accepted === 3, 'the three milestones', 20_000);
    await waitFor(
      () => hall!.hub!.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM forward_queue WHERE state <> 'done'").get()!.n === 0,
      'the queue drained',
      20_000,
    );
    hall.province.setFaults({});
    const s = hall.province.stats();
    expect(s).toMatchObject({ accepted: 2, counted: 1, invalidated: 1 });
    expect(s.messages.invalidation).toMatchObject({ accepted: 1, rejected: 0 });
    expect(s.messages.invalidation!.received).toBe(1 + s.messages.invalidation!.duplicatesReceived);
    const inv = await messagesAt(hall.province, 'invalidation');
    expect(inv).toHaveLength(1);
    expect(inv[0]).toMatchObject({
      evaluationKey: order.ratingId,
      message: { evaluationId: order.ratingId, invalidReason: '经复核，属误评' },
    });
    const ms = await messagesAt(hall.province, 'milestone', order.ratingId);
    expect(ms.map((m) => [m.message.handleType, m.message.handleResult])).toEqual([
      ['verified', 'invalid'],
      ['appeal-decided', 'invalid'],
      ['closed', 'invalid'],
    ]);
    // Which evaluation stopped counting: the invalid one, not the other.
    const evs = (
      (await (await fetch(`${hall.province.url}/api/evaluations`)).json()) as { records: { key: string; invalidatedBy?: string }[] }
    ).records;
    expect(evs.find((e) => e.key === order.ratingId)?.invalidatedBy).toBe(inv[0]!.key);
    expect(evs.find((e) => e.key === kept.ratingId)?.invalidatedBy).toBeUndefined();

    // The hall keeps the rating and the order, marked invalid; its statistics leave it out.
    expect(hall.hub!.db.prepare('SELECT level FROM ratings WHERE id = ?').get(order.ratingId)).toEqual({ level: 1 });
    expect(hall.hub!.db.prepare('SELECT excluded FROM rating_facts WHERE id = ?').get(order.ratingId)).toEqual({ excluded: 'invalid' });
    const page = await sup.call(`/workorders/${order.id}`);
    expect(page.text).toContain('无效差评');
  });
});

describe('a 差评 the hall cannot resolve is handed on (转办) through its own destination', () => {
  it('the hand-off reaches the 12345 stand-in with the handling so far; the province gets the handed-off milestone; the page offers 转办', async () => {
    const hotline = await startProvince({ log: silentLog(), profile: 'native' });
    others.push(hotline);
    hall = await TestHall.start({
      forward: { retry: { baseMs: 50, maxMs: 300 } },
      hubConfig: {
        handoff: {
          name: '12345政务服务便民热线',
          destination: { url: `${hotline.url}/api/evaluations`, profile: 'native', lingerMs: 0, retry: { baseMs: 50, maxMs: 300 } },
        },
      },
    });
    await hall.hub!.web.users.add('test', { name: 'sup', role: 'supervisor', password: 'supervisor-pw-1' });
    const sup = await staff(hall.hubUrl, 'sup', 'supervisor-pw-1');
    const d = await hall.addDevice('05');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    const order = await badReview(hall, d, sup);
    await sup.act(order.id, { type: 'confirm', class: 'general' });

    const page = await sup.call(`/workorders/${order.id}`);
    expect(page.text).toContain('转办（本大厅无法解决）');
    expect(page.text).toContain('12345政务服务便民热线');
    expect((await sup.call(`/api/hall/workorders/${order.id}/actions`, { type: 'hand-off', note: '  ' })).status).toBe(400);
    const done = await sup.act(order.id, { type: 'hand-off', note: '涉及不动产登记中心的收费政策，本大厅无权调整' });
    expect(done).toMatchObject({ state: 'closed', outcome: 'handed-off' });

    await waitFor(() => hotline.stats().messages.handoff!.accepted === 1, 'the hand-off at 12345', 15_000);
    const [h] = await messagesAt(hotline, 'handoff');
    expect(h!.message).toMatchObject({
      kind: 'handoff',
      evaluationId: order.ratingId,
      target: '12345政务服务便民热线',
      text: '涉及不动产登记中心的收费政策，本大厅无权调整',
      level: 1,
      window: '05',
      order: { id: order.id, state: 'rectifying', class: 'general' },
    });
    expect((h!.message.history as { action: string }[]).map((x) => x.action)).toEqual(['confirm']);
    // Hand-offs never go to the province, and the province's milestones never to 12345.
    expect(hotline.stats().messages.milestone!.received).toBe(0);
    expect(hotline.stats().received).toBe(0);
    await waitFor(() => hall!.province.stats().messages.milestone!.accepted === 3, 'verified, handed-off, closed at the province');
    expect((await messagesAt(hall.province, 'milestone')).map((m) => m.message.type)).toEqual(['verified', 'handed-off', 'closed']);
    expect(hall.province.stats().messages.handoff!.received).toBe(0);
    // A closed order cannot be handed off twice.
    expect((await sup.call(`/api/hall/workorders/${order.id}/actions`, { type: 'hand-off', note: '再转一次' })).status).toBe(409);
  });
});

describe('the hub killed with SIGKILL between a work-order step and its forwarding', () => {
  it('the milestone is delivered exactly once after the restart, whether it was not yet sent or its answer was lost', async () => {
    hall = await TestHall.start({ hubAs: 'process', hubArgs: ['--province-timeout-ms', '20000', '--province-retry-max-ms', '500'] });
    const password = readFileSync(join(hall.dir, 'hub', INITIAL_PASSWORD_FILE), 'utf8').split('\n')[1]!;
    let admin = await staff(hall.hubUrl, 'admin', password);
    const d = await hall.addDevice('02');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    const order = await badReview(hall, d, admin);
    await waitFor(() => hall!.province.stats().accepted === 1, 'the 差评 at the province');

    // 1. Committed in the hub, never sent: the province is down when the hub dies.
    await hall.stopProvince();
    await admin.act(order.id, { type: 'confirm', class: 'simple', note: '属实' });
    expect(await hall.stopHubProcess('SIGKILL')).toBeNull();
    await hall.startProvince();
    await hall.startHubProcess();
    await waitFor(() => hall!.province.stats().messages.milestone!.accepted === 1, 'the verified milestone after the restart', 30_000);

    // 2. Stored by the province, answer still on its way when the hub dies.
    admin = await staff(hall.hubUrl, 'admin', password);
    hall.province.setFaults({ slow: 1, slowMs: 4000 });
    await admin.act(order.id, { type: 'rectify', note: '已整改' });
    await waitFor(
      () => {
        const s = hall!.province.stats();
        return s.inFlight >= 1 && s.messages.milestone!.accepted === 2;
      },
      'the rectified milestone stored at the province, its answer pending',
      20_000,
    );
    expect(await hall.stopHubProcess('SIGKILL')).toBeNull();
    hall.province.setFaults({});
    await hall.startHubProcess();
    await waitFor(() => hall!.province.stats().messages.milestone!.duplicatesReceived >= 1, 'the resend answered "duplicate"', 30_000);

    const got = await messagesAt(hall.province, 'milestone');
    expect(got.map((m) => (m.message as { type: string }).type)).toEqual(['verified', 'rectified']);
    expect(hall.province.stats().messages.milestone).toMatchObject({ accepted: 2, rejected: 0 });
    expect(hall.province.stats().accepted).toBe(1);
  }, 120_000); // a hub process killed and started twice on a shared machine
});
