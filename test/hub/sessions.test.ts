import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceSettings } from '../../hub/registry/registry.js';
import type { SessionView } from '../../hub/sessions/session-book.js';
import { TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

const SESSION_MODE: DeviceSettings = { mode: 'session', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } };

async function call<T = Record<string, unknown>>(
  h: TestHall,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const r = await fetch(`${h.hubUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as T };
}

describe("the queue system opens a session, the window's device prompts, the rating carries the case", () => {
  it('session → prompt with the staff on duty → rating → record with cases, item and staff; a batch gets one rating for all its cases', async () => {
    hall = await TestHall.start();
    const dev = await hall.addDevice('12', SESSION_MODE);
    await waitFor(() => dev.agent.link.connected, 'device connected');
    const { token: queue } = await hall.api<{ token: string }>('/api/tokens', { name: 'queue system', role: 'queue-system' });

    // Staff logs in at window 12: a new config version reaches the device with the name on it.
    const v0 = dev.agent.currentConfig.version;
    const login = await call<{ devices: { device: string; version: number; changed: boolean }[] }>(
      hall,
      'PUT',
      '/api/windows/12/staff',
      queue,
      { id: 'S042', name: '王芳', number: '042' },
    );
    expect(login.status).toBe(200);
    expect(login.body.devices).toEqual([{ device: dev.id, version: v0 + 1, changed: true }]);
    await waitFor(() => dev.agent.currentConfig.staff?.id === 'S042', 'staff on the device');

    // One case finished.
    const open = await call<{ session: SessionView; delivered: boolean }>(hall, 'POST', '/api/sessions', queue, {
      window: '12',
      cases: ['BJ2025093000017'],
      itemCode: '11420000MB1234567X',
      itemName: '不动产登记',
    });
    expect(open.status).toBe(201);
    expect(open.body.delivered).toBe(true);
    expect(open.body.session).toMatchObject({ state: 'open', staffId: 'S042', device: dev.id, cases: ['BJ2025093000017'] });
    await waitFor(() => dev.display.current?.screen === 'prompt', 'the device prompts');
    const prompt = dev.display.current as { screen: 'prompt'; staff: { name: string } | null; cases: string[] };
    expect(prompt.staff?.name).toBe('王芳');
    expect(prompt.cases).toEqual(['BJ2025093000017']);
    dev.buttons.press(1); // 满意
    await waitFor(async () => (await hall!.provinceRecords()).length === 1, 'rating at the province');
    const [first] = await hall.provinceRecords();
    expect(first!.evaluation).toMatchObject({ kind: 'rating', level: 4, staffId: 'S042', window: '12', assessNumber: 1 });
    expect(first!.evaluation.session).toEqual({
      id: open.body.session.id,
      cases: ['BJ2025093000017'],
      itemCode: '11420000MB1234567X',
      itemName: '不动产登记',
    });
    expect(first!.record.session?.id).toBe(open.body.session.id);
    const after = await call<{ session: SessionView }>(hall, 'GET', `/api/sessions/${open.body.session.id}`, queue);
    expect(after.body.session).toMatchObject({ state: 'rated', counted: { id: first!.record.id, kind: 'rating', level: 4 } });

    // A batch of three cases handled together: one press, one evaluation naming all three.
    const batch = await call<{ session: SessionView }>(hall, 'POST', '/api/sessions', queue, {
      id: 'Q-20251001-88',
      window: '12',
      cases: ['BJ1', 'BJ2', 'BJ3'],
      itemCode: 'X1',
      itemName: '户籍迁移',
      staffId: 'S007',
    });
    expect(batch.status).toBe(201);
    await waitFor(() => dev.display.current?.screen === 'prompt', 'prompt for the batch');
    dev.buttons.press(0); // 非常满意
    await waitFor(async () => (await hall!.provinceRecords()).length === 2, 'batch rating at the province');
    const evs = (await hall.provinceRecords()).map((r) => r.evaluation);
    expect(evs[1]).toMatchObject({
      kind: 'rating',
      level: 5,
      staffId: 'S007',
      session: { id: 'Q-20251001-88', cases: ['BJ1', 'BJ2', 'BJ3'], itemCode: 'X1', itemName: '户籍迁移' },
    });
    // Opening it again (a retry) changes nothing; other content under that id is a conflict.
    expect(
      (
        await call(hall, 'POST', '/api/sessions', queue, {
          id: 'Q-20251001-88',
          window: '12',
          cases: ['BJ1', 'BJ2', 'BJ3'],
          itemCode: 'X1',
          itemName: '户籍迁移',
          staffId: 'S007',
        })
      ).status,
    ).toBe(200);
    expect((await call(hall, 'POST', '/api/sessions', queue, { id: 'Q-20251001-88', window: '12', cases: ['BJ9'] })).status).toBe(409);

    // Cancel: the prompt goes away; nothing is sent to the province.
    const c = await call<{ session: SessionView }>(hall, 'POST', '/api/sessions', queue, { window: '12', cases: ['BJ4'] });
    await waitFor(() => dev.display.current?.screen === 'prompt', 'prompt');
    const cancelled = await call<{ session: SessionView }>(hall, 'POST', `/api/sessions/${c.body.session.id}/cancel`, queue);
    expect(cancelled.body.session.state).toBe('cancelled');
    await waitFor(() => dev.display.current?.screen === 'idle', 'prompt withdrawn');

    // Pause and resume the window; log the staff out.
    await call(hall, 'POST', '/api/windows/12/pause', queue);
    await waitFor(() => dev.display.current?.screen === 'paused', 'device paused');
    const whilePaused = await call<{ error: string }>(hall, 'POST', '/api/sessions', queue, { window: '12', cases: ['BJ5'] });
    expect([whilePaused.status, whilePaused.body.error]).toEqual([409, 'paused']);
    await call(hall, 'POST', '/api/windows/12/resume', queue);
    await waitFor(() => dev.display.current?.screen === 'idle', 'device resumed');
    await call(hall, 'DELETE', '/api/windows/12/staff', queue);
    await waitFor(() => dev.agent.currentConfig.staff === null, 'staff logged out');
    expect(dev.agent.currentConfig.version).toBe(v0 + 4);

    // Requests are validated against their schema; roles are enforced.
    const bad = await call<{ error: string; message: string }>(hall, 'POST', '/api/sessions', queue, { window: '12', cases: [] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid-request');
    const { token: viewer } = await hall.api<{ token: string }>('/api/tokens', { name: 'wall screen', role: 'viewer' });
    expect((await call(hall, 'POST', '/api/sessions', viewer, { window: '12', cases: ['X'] })).status).toBe(403);
    expect((await call(hall, 'POST', '/api/sessions', 'nonsense', { window: '12', cases: ['X'] })).status).toBe(401);
    expect((await call(hall, 'POST', '/api/sessions', queue, { window: '99', cases: ['X'] })).status).toBe(404);
    expect((await hall.provinceRecords()).length).toBe(2);
  });

  it("hall-wide settings: loading the province's reason catalogue gives every device a new config version", async () => {
    hall = await TestHall.start();
    const a = await hall.addDevice('01', SESSION_MODE);
    const b = await hall.addDevice('02', { ...SESSION_MODE, prompts: { ask: '请评价' } });
    await waitFor(() => a.agent.link.connected && b.agent.link.connected, 'devices connected');
    const va = a.agent.currentConfig.version;
    const catalogue = {
      version: 'hubei-2025.3',
      reasons: [
        { code: '213', level: 2, text: '窗口人员业务不熟练' },
        { code: '214', level: 2, text: '服务态度生硬' },
        { code: '115', level: 1, text: '服务态度差效率低' },
      ],
    };
    const put = await call<{ changed: { device: string; version: number }[] }>(hall, 'PUT', '/api/hall/settings', hall.adminToken, {
      catalogue,
      prompts: { ask: '请您评价本次服务', thanks: '谢谢' },
    });
    expect(put.status).toBe(200);
    const res = put.body;
    expect(res.changed.map((c) => c.device).sort()).toEqual([a.id, b.id]);
    await waitFor(
      () => a.agent.currentConfig.catalogue.version === 'hubei-2025.3' && b.agent.currentConfig.catalogue.version === 'hubei-2025.3',
      'catalogue on both devices',
    );
    expect(a.agent.currentConfig.version).toBe(va + 1);
    expect(a.agent.currentConfig.prompts.ask).toBe('请您评价本次服务');
    expect(b.agent.currentConfig.prompts).toMatchObject({ ask: '请评价', thanks: '谢谢' }); // its own setting wins
    // A catalogue whose codes do not start with their level is refused.
    const bad = await call(hall, 'PUT', '/api/hall/settings', hall.adminToken, {
      catalogue: { version: 'x', reasons: [{ code: '213', level: 1, text: 't' }] },
    });
    expect(bad.status).toBe(400);
  });

  it('the hub serves its OpenAPI document, with the queue-system routes and their schemas', async () => {
    hall = await TestHall.start();
    const doc = (await (await fetch(`${hall.hubUrl}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> } }
        >
      >;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const open = doc.paths['/api/sessions']!.post!;
    const schema = open.requestBody!.content['application/json']!.schema;
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['window', 'cases', 'itemCode', 'itemName', 'staffId']));
    expect(schema.required).toEqual(expect.arrayContaining(['window', 'cases']));
    for (const p of [
      '/api/sessions/{id}/cancel',
      '/api/windows/{window}/staff',
      '/api/windows/{window}/pause',
      '/api/windows/{window}/resume',
      '/api/devices',
      '/api/devices/{id}/revoke',
      '/api/gaps',
      '/api/alarms',
    ]) {
      expect(doc.paths[p], p).toBeDefined();
    }
    // The hall page's routes (session cookie, not API tokens) stay out of the token API's document.
    expect(
      Object.keys(doc.paths).filter(
        (p) => !(p.startsWith('/api/') || p === '/metrics') || ['/api/hall/login', '/api/hall/wall', '/api/hall/workorders'].includes(p),
      ),
    ).toEqual([]);
    expect(doc.paths['/api/hall/settings']).toBeDefined();
  });
});
