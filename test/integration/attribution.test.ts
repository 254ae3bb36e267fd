/**
 * Attribution from the hub's own truth (issue 16 item 2), with real parts: the hub, its broker,
 * the stand-in province, a device enrolled through the real path and speaking with its own key
 * and password (as a stolen device would), and real agents for the honest and rate-cap cases.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, newRecordId, recordHash, signRecord, topic, type RatingRecord, type UnsignedRecord } from '../../protocol/index.js';
import { FAST_WALK_UP, TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';
import { enrolledDevice, type Creds } from '../hub/helpers.js';

let hall: TestHall | null = null;
let rogue: MqttClient | null = null;
afterEach(async () => {
  await rogue?.endAsync(true);
  rogue = null;
  await hall?.close();
  hall = null;
});

/**
 * These rules are about attribution, so this hall counts (flagged) what the default flag policy
 * would keep out of the counts: presses in session mode without a session the hub opened.
 */
async function countSessionless(h: TestHall): Promise<void> {
  const r = await fetch(`${h.hubUrl}/api/hall/settings`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ flagPolicy: { 'no-session': 'flag' } }),
  });
  expect(r.status).toBe(200);
}

/** Speaks for an enrolled device with its own password and key: the stolen-device attacker. */
async function stolen(h: TestHall, c: Creds) {
  rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.ports.mqtt}`, {
    clientId: c.id,
    username: c.id,
    password: c.password,
    reconnectPeriod: 0,
  });
  let prev = GENESIS_HASH;
  let seq = 0;
  return async (over: Partial<UnsignedRecord>): Promise<RatingRecord> => {
    const r = signRecord(
      {
        v: 1,
        id: newRecordId(),
        hall: c.hall,
        device: c.id,
        window: '9a',
        staffId: null,
        seq: ++seq,
        kind: 'rating',
        level: 1,
        reasons: ['115'],
        catalogue: 'builtin-2026.1',
        session: null,
        at: Date.now(),
        clockSynced: true,
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        mono: seq * 600_000, // ten minutes apart: well within the rate cap
        flags: [],
        prev,
        ...over,
      },
      c.keys.privateKey,
    );
    prev = recordHash(r);
    await rogue!.publishAsync(topic(c.hall, c.id, 'rating'), JSON.stringify(r), { qos: 1 });
    return r;
  };
}

describe('the hub attributes a rating from what it knows, never from what the device claims', () => {
  it("a device signing another window's and staff member's id: the province gets the hub's window and staff, the alarm is raised, the work order is against the hub's window", async () => {
    hall = await TestHall.start();
    const c = await enrolledDevice(hall, '9a');
    await countSessionless(hall);
    await fetch(`${hall.hubUrl}/api/windows/9a/staff`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${hall.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'S9A', name: '李明', number: '9' }),
    });
    const send = await stolen(hall, c);

    // Sessionless 差评 claiming window 01 and a staff member who is not on duty at 9a.
    const forged = await send({ window: '01', staffId: 'victim-staff-007' });
    const [ev] = await waitFor(async () => {
      const recs = await hall!.provinceRecords();
      return recs.length === 1 ? recs : null;
    }, 'the forged record at the province');
    expect(ev!.evaluation).toMatchObject({ window: '9a', staffId: 'S9A', level: 1 });
    expect(ev!.evaluation.flags).toContain('attribution-mismatch');
    // The device's signed record travels unchanged, for audit: the claim is visible, not believed.
    expect(ev!.record).toEqual(forged);

    const alarms = hall.hub!.alarms.list().filter((a) => a.kind === 'attribution-mismatch');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.device).toBe(c.id);
    expect(alarms[0]!.message).toContain('victim-staff-007');
    expect(alarms[0]!.detail).toMatchObject({
      id: forged.id,
      mismatches: [
        { field: 'window', claimed: '01', hub: '9a' },
        { field: 'staffId', claimed: 'victim-staff-007', hub: 'S9A' },
      ],
    });

    // Stored with the hub's attribution and flagged; the 差评 work order is against 9a and S9A.
    const row = hall
      .hub!.db.prepare<[string], { window: string; staff_id: string | null; flags: string }>(
        'SELECT window, staff_id, flags FROM ratings WHERE id = ?',
      )
      .get(forged.id)!;
    expect(row).toMatchObject({ window: '9a', staff_id: 'S9A' });
    expect(JSON.parse(row.flags)).toContain('attribution-mismatch');
    const orders = await waitFor(() => {
      const o = hall!.hub!.web.workOrders.list({ state: 'all' });
      return o.length ? o : null;
    }, 'the work order');
    expect(orders.map((o) => [o.window, o.staffId])).toEqual([['9a', 'S9A']]);
    expect(hall.hub!.web.workOrders.list({ state: 'all', window: '01' })).toEqual([]);
  });

  it("a record naming a session the hub opened gets that session's cases, item and staff; one naming a session it never opened gets none", async () => {
    hall = await TestHall.start();
    const c = await enrolledDevice(hall, '9a');
    await countSessionless(hall);
    const { token: queue } = await hall.api<{ token: string }>('/api/tokens', { name: 'queue', role: 'queue-system' });
    const open = await fetch(`${hall.hubUrl}/api/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${queue}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'Q-1', window: '9a', cases: ['BJ-REAL-1'], itemCode: 'X1', itemName: '户籍迁移', staffId: 'S9A' }),
    });
    expect(open.status).toBe(201);
    const send = await stolen(hall, c);

    const claimed = await send({
      staffId: 'victim-staff-007',
      session: { id: 'Q-1', cases: ['BJ-FAKE-9'], itemCode: 'Y9', itemName: '别的事项' },
    });
    const made = await send({
      staffId: 'victim-staff-007',
      session: { id: 'NEVER-OPENED', cases: ['BJ-FAKE-10'], itemCode: null, itemName: null },
    });
    const got = await waitFor(async () => {
      const recs = await hall!.provinceRecords();
      return recs.length === 2 ? recs.map((r) => r.evaluation) : null;
    }, 'both records at the province');
    const byId = new Map(got.map((e) => [e.id, e]));
    expect(byId.get(claimed.id)).toMatchObject({
      window: '9a',
      staffId: 'S9A',
      session: { id: 'Q-1', cases: ['BJ-REAL-1'], itemCode: 'X1', itemName: '户籍迁移' },
    });
    // No staff is on duty at 9a: the invented session gives nobody, not the claimed staff member.
    expect(byId.get(made.id)).toMatchObject({ window: '9a', staffId: null, session: null });
    for (const e of got) expect(e.flags).toContain('attribution-mismatch');
    // The session the hub opened is rated by it (the hub's session, the hub's cases).
    const s = await hall.api<{ session: { state: string; ratingId: string } }>('/api/sessions/Q-1');
    expect(s.session).toMatchObject({ state: 'rated', ratingId: claimed.id });
    // Both flagged; one alarm for the device (at most one a minute: a flood is not one alarm per record).
    expect(hall.hub!.alarms.list().filter((a) => a.kind === 'attribution-mismatch')).toHaveLength(1);
  });

  it("an honest device's ratings, with and without a session, carry no attribution flag and raise no alarm", async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('12', FAST_WALK_UP);
    await waitFor(() => d.agent.link.connected, 'device connected');
    await fetch(`${hall.hubUrl}/api/windows/12/staff`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${hall.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'S042', name: '王芳', number: '042' }),
    });
    await waitFor(() => d.agent.currentConfig.staff?.id === 'S042', 'staff on the device');
    await hall.api('/api/sessions', { window: '12', cases: ['BJ1', 'BJ2'], itemCode: 'X1', itemName: '不动产登记' });
    await waitFor(() => d.display.current?.screen === 'prompt' && d.display.current.cases.length === 2, 'prompt for the session');
    d.rate(1);
    await waitFor(() => d.display.current?.screen === 'prompt' && d.display.current.cases.length === 0, 'walk-up prompt again');
    d.rate(0); // a walk-up press: no session, attributed to the staff on duty
    const evs = await waitFor(async () => {
      const recs = await hall!.provinceRecords();
      return recs.length === 2 ? recs.map((r) => r.evaluation) : null;
    }, 'both at the province');
    expect(evs.map((e) => [e.window, e.staffId, e.session?.cases ?? null])).toEqual([
      ['12', 'S042', ['BJ1', 'BJ2']],
      ['12', 'S042', null],
    ]);
    for (const e of evs) expect(e.flags).not.toContain('attribution-mismatch');
    expect(hall.hub!.alarms.list()).toEqual([]);
  });
});

describe('a per-device cap on rating rate', () => {
  it("ratings beyond 10 a minute of the device's own clock are stored, acknowledged and forwarded, but flagged rate-exceeded with one alarm", async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('07', FAST_WALK_UP);
    await waitFor(() => d.agent.link.connected, 'device connected');
    for (let i = 0; i < 15; i++) d.rate(0); // fifteen presses within milliseconds: no person does that
    expect(d.stored).toHaveLength(15);
    await waitFor(() => d.agent.outbox.depth() === 0, 'all acknowledged (nothing dropped)');
    const evs = await waitFor(async () => {
      const recs = await hall!.provinceRecords();
      return recs.length === 15 ? recs.map((r) => r.evaluation) : null;
    }, 'all 15 at the province');
    const flagged = evs.filter((e) => e.flags.includes('rate-exceeded')).map((e) => e.record!.seq);
    expect(flagged).toEqual([11, 12, 13, 14, 15]);
    const alarms = hall.hub!.alarms.list().filter((a) => a.kind === 'rate-exceeded');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ device: d.id, detail: { seq: 11, within: 11 } });
  });
});
