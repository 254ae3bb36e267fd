/**
 * One size contract, end to end (issue 16 item 1), with real parts: the hub and its broker, the
 * stand-in province, device agents with real SQLite outboxes, mqtt.js. The case from the report:
 * a batch of 38 cases of 61 CJK characters each, every field within the API's field limits.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, OUTBOX_FILE } from '../../device/outbox/outbox.js';
import { loadOrCreateKeys } from '../../device/identity/keys.js';
import {
  decode,
  encode,
  GENESIS_HASH,
  MAX_BYTES,
  newRecordId,
  recordHash,
  signRecord,
  topic,
  wireBytes,
  worstCaseRecordBytes,
  type Ack,
  type RatingRecord,
  type SessionRef,
} from '../../protocol/index.js';
import { FAST_WALK_UP, TestHall, type TestDevice } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { credsIn, metric } from '../hub/helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

const CJK_CASE = (i: number) => `${String(i).padStart(2, '0')}${'办'.repeat(59)}`; // 61 characters, 2 + 177 bytes
const cases = (n: number) => Array.from({ length: n }, (_, i) => CJK_CASE(i));
const LONG_ITEM = { itemCode: 'C'.repeat(64), itemName: '事'.repeat(200) }; // both at the API's field limits

async function post(
  h: TestHall,
  path: string,
  body: unknown,
): Promise<{ status: number; body: { error?: string; message?: string; session?: { id: string } } }> {
  const r = await fetch(`${h.hubUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { error?: string } };
}

/** Selects every reason of the 差评 shown (paging through), then confirms. */
function pickEveryReason(d: TestDevice): void {
  for (let guard = 0; guard < 20; guard++) {
    const f = d.display.current;
    if (f?.screen !== 'reasons') return;
    for (const o of f.options) if (o.reason && !o.selected) d.buttons.press(o.button);
    const now = d.display.current;
    if (now?.screen !== 'reasons') return;
    const next = now.options.find((o) => o.action === 'next');
    if (next && now.page < now.pages - 1) d.buttons.press(next.button);
    else return d.buttons.press(now.options.find((o) => o.action === 'done' || o.action === 'skip')!.button);
  }
}

describe('the API refuses a session whose record could not cross the wire', () => {
  it('the 38-case CJK batch with a long item is refused with 413 naming the limit; nothing is stored, sent or prompted, so no default can follow', async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('12', { mode: 'session', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } });
    await waitFor(() => d.agent.link.connected, 'device connected');

    const r = await post(hall, '/api/sessions', { window: '12', cases: cases(38), ...LONG_ITEM, staffId: 'S'.repeat(64) });
    expect(r.status).toBe(413);
    expect(r.body.error).toBe('too-large');
    expect(r.body.message).toMatch(
      /the largest rating record this session could give is \d+ bytes; the protocol limit for rating messages is 8192 bytes/,
    );

    // 50 such cases: the session message itself would exceed its limit.
    const r50 = await post(hall, '/api/sessions', { window: '12', cases: cases(50) });
    expect(r50.status).toBe(413);
    expect(r50.body.message).toMatch(/session message is \d+ bytes; the protocol limit for session messages is 8192 bytes/);

    expect(hall.hub!.sessions.list()).toEqual([]);
    await sleep(300);
    expect(d.display.current?.screen).toBe('idle');
    expect(d.stored).toEqual([]);
  });

  it('the same 38 cases with a short item fit: prompted, rated 非常不满意 with every reason, delivered intact; the record is within the worst case the API judged', async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('12', { mode: 'session', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } });
    await waitFor(() => d.agent.link.connected, 'device connected');
    const batch = cases(38);
    const r = await post(hall, '/api/sessions', { window: '12', cases: batch, itemCode: 'X1', itemName: '不动产登记' });
    expect(r.status).toBe(201);
    await waitFor(() => d.display.current?.screen === 'prompt', 'the device prompts');
    d.buttons.press(4); // 非常不满意
    pickEveryReason(d);
    await waitFor(() => d.stored.length === 1, 'the rating is written');
    const rec = d.stored[0]!;
    expect(rec.reasons.length).toBeGreaterThan(1);
    const session = rec.session!;
    const worst = worstCaseRecordBytes({
      hall: rec.hall,
      device: rec.device,
      window: rec.window,
      staffId: null,
      catalogue: rec.catalogue,
      session,
    });
    expect(wireBytes(rec)).toBeLessThanOrEqual(worst);
    expect(worst).toBeLessThanOrEqual(MAX_BYTES.rating);

    const [got] = await waitFor(async () => {
      const recs = await hall!.provinceRecords();
      return recs.length === 1 ? recs : null;
    }, 'the rating at the province');
    expect(got!.record).toEqual(rec);
    expect(got!.evaluation.session?.cases).toEqual(batch);
    const s = await hall.api<{ session: { state: string; counted: { level: number } } }>(`/api/sessions/${r.body.session!.id}`);
    expect(s.session).toMatchObject({ state: 'rated', counted: { level: 1 } });
  });

  it('a hall setting that would make a config over its limit is refused and nothing changes', async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('12');
    await waitFor(() => d.agent.link.connected, 'device connected');
    const before = d.agent.currentConfig.version;
    // 200 reasons of 100 CJK characters: within the field limits, ~66 KB as a config.
    const reasons = Array.from({ length: 200 }, (_, i) => {
      const level = 1 + (i % 5);
      return { code: `${level}${10 + Math.floor(i / 5)}`, level, text: '因'.repeat(100) };
    });
    const r = await fetch(`${hall.hubUrl}/api/hall/settings`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${hall.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ catalogue: { version: 'big', reasons } }),
    });
    const body = (await r.json()) as { error: string; message: string };
    expect(r.status, JSON.stringify(body)).toBe(413);
    expect(body.message).toMatch(/the protocol limit for config messages is 65536 bytes/);
    const dev = await hall.api<{ config: { version: number; catalogue: { version: string } } }>(`/api/devices/${d.id}`);
    expect(dev.config.version).toBe(before);
    expect(dev.config.catalogue.version).not.toBe('big');
  });
});

describe('the device never thanks a record it cannot send', () => {
  it('a session from an older hub whose record could exceed the limit is not prompted for; the device reports it and the hall sees an alarm', async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('12', { mode: 'session', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } });
    await waitFor(() => d.agent.link.connected, 'device connected');
    // What the hub sent before the API checked sizes: the message fits, its record would not.
    const session: SessionRef = { id: 'OLD-1', cases: cases(38), ...LONG_ITEM };
    const payload = encode('session', { v: 1, op: 'open', session, staffId: 'S'.repeat(64), openedAt: Date.now() });
    hall.hub!.broker.aedes.publish(
      { cmd: 'publish', topic: topic('test-hall', d.id, 'session'), payload, qos: 1, retain: false, dup: false },
      () => {},
    );

    await waitFor(() => d.agent.counters.sessionsRefused === 1, 'the device refuses the session');
    expect(d.display.current?.screen).toBe('idle');
    d.buttons.press(4); // a press now is sessionless, not an answer to the refused session
    expect(d.stored.every((r) => r.session === null)).toBe(true);
    const alarm = await waitFor(
      () => hall!.hub!.alarms.list().find((a) => a.kind === 'device-fault' && a.detail.fault === 'session-refused'),
      "the hall's alarm",
    );
    expect(alarm.device).toBe(d.id);
    expect(hall.hub!.status.health(d.id).faults).toContain('session-refused');
  });

  it('a device holding an oversized record (older firmware) never sends it, keeps it marked refused, shows the fault, and delivers the records after it', async () => {
    hall = await TestHall.start();
    const { id, dir } = await hall.enrolDevice('12', FAST_WALK_UP);
    // The older firmware committed a record the wire refuses: seq 1 with 50 long CJK case numbers.
    new Outbox(join(dir, OUTBOX_FILE)).close();
    const keys = loadOrCreateKeys(dir);
    const big = signRecord(
      {
        v: 1,
        id: newRecordId(),
        hall: 'test-hall',
        device: id,
        window: '12',
        staffId: null,
        seq: 1,
        kind: 'rating',
        level: 1,
        reasons: ['115'],
        catalogue: 'builtin-2026.1',
        session: { id: 'S-BIG', cases: cases(50), itemCode: null, itemName: null },
        at: Date.now(),
        clockSynced: true,
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        mono: 1000,
        flags: [],
        prev: GENESIS_HASH,
      },
      keys.privateKey,
    );
    expect(wireBytes(big)).toBeGreaterThan(MAX_BYTES.rating);
    const db = new Database(join(dir, OUTBOX_FILE));
    db.prepare('INSERT INTO records (seq, id, body, created_at) VALUES (1, ?, ?, ?)').run(big.id, JSON.stringify(big), big.at);
    db.prepare('INSERT INTO chain (id, seq, hash) VALUES (1, 1, ?)').run(recordHash(big));
    db.close();

    const d = await hall.runDevice(id, dir);
    await waitFor(() => d.agent.outbox.rejectedRecords().length === 1, 'the record refused on the device');
    expect(d.agent.outbox.rejectedRecords()[0]).toEqual({ record: big, reason: 'oversized' });
    d.rate(0);
    await waitFor(async () => (await hall!.provinceRecords()).length === 1, 'the next record delivered');
    expect((await hall.provinceRecords())[0]!.record.seq).toBe(2);
    // The fault reaches the hall: the device's status and an alarm.
    await waitFor(() => hall!.hub!.status.health(id).faults.includes('records-refused'), 'the fault in the device status');
    expect(hall.hub!.alarms.list().some((a) => a.kind === 'device-fault' && a.device === id && a.detail.fault === 'records-refused')).toBe(
      true,
    );
    // Past the ack timeout (3 s here) nothing was resent: the broker never saw it, the record is kept.
    await sleep(3500);
    expect(await metric(hall, 'hcp_ingest_rejected_total', 'reason="oversized"')).toBe(0);
    expect(d.agent.outbox.rejectedRecords()).toHaveLength(1);
    expect(d.agent.outbox.depth()).toBe(0);
  });

  it('the hub tells a device which oversized record it refused (final), alarms it, and takes the next one', async () => {
    hall = await TestHall.start();
    const { id, dir } = await hall.enrolDevice('12', FAST_WALK_UP);
    const c = credsIn(dir);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
      clientId: id,
      username: id,
      password: c.password,
      reconnectPeriod: 0,
    });
    try {
      const acks: Ack[] = [];
      await client.subscribeAsync(topic('test-hall', id, 'ack'), { qos: 1 });
      client.on('message', (_t, p) => {
        const a = decode('ack', p);
        if (a.ok) acks.push(a.value);
      });
      const base = {
        v: 1 as const,
        hall: 'test-hall',
        device: id,
        window: '12',
        staffId: null,
        kind: 'rating' as const,
        level: 1 as const,
        reasons: ['115'],
        catalogue: 'builtin-2026.1',
        at: Date.now(),
        clockSynced: true,
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        flags: [],
      };
      const big: RatingRecord = signRecord(
        {
          ...base,
          id: newRecordId(),
          seq: 1,
          mono: 1000,
          prev: GENESIS_HASH,
          session: { id: 'S-BIG', cases: cases(50), itemCode: null, itemName: null },
        },
        c.keys.privateKey,
      );
      await client.publishAsync(topic('test-hall', id, 'rating'), JSON.stringify(big), { qos: 1 });
      await waitFor(() => acks.some((a) => a.rejects.length), 'the refusal');
      expect(acks.flatMap((a) => a.rejects)).toEqual([{ seq: 1, id: big.id, reason: 'oversized' }]);
      const alarm = hall.hub!.alarms.list().find((a) => a.kind === 'record-refused')!;
      expect(alarm).toMatchObject({ device: id, detail: { seq: 1, id: big.id, limit: 8192, session: 'S-BIG', level: 1 } });

      const next = signRecord(
        { ...base, id: newRecordId(), seq: 2, mono: 700_000, prev: recordHash(big), session: null },
        c.keys.privateKey,
      );
      await client.publishAsync(topic('test-hall', id, 'rating'), JSON.stringify(next), { qos: 1 });
      await waitFor(() => acks.some((a) => a.acks.some((x) => x.id === next.id)), 'the next record acknowledged');
    } finally {
      await client.endAsync(true);
    }
  });
});
