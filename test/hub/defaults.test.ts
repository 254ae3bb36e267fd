import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_VERSION } from '../../device/agent.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import { dayNumber } from '../../hub/calendar/working-days.js';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { startHub, type Hub } from '../../hub/hub.js';
import {
  decode,
  GENESIS_HASH,
  recordHash,
  topic,
  type RatingRecord,
  type SessionMessage,
  type UnsignedRecord,
} from '../../protocol/index.js';
import { startProvince, type Province } from '../../simulator/province/province.js';
import { silentLog } from '../helpers/log.js';
import { makeRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/wait.js';
import { credsIn, metric, type Creds } from './helpers.js';

const bj = (s: string) => Date.parse(`${s}+08:00`);

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

async function provinceEvaluations(p: Province): Promise<Evaluation[]> {
  const page = (await (await fetch(`${p.url}/api/evaluations?limit=10000`)).json()) as { records: { record: Evaluation }[] };
  return page.records.map((r) => r.record);
}

/** Plays the device: receives its sessions and sends signed, chained records with its own key. */
class ScriptedDevice {
  readonly sessions: SessionMessage[] = [];
  private head = { seq: 0, hash: GENESIS_HASH };
  constructor(
    readonly c: Creds,
    readonly client: MqttClient,
  ) {
    client.on('message', (t, p) => {
      if (t === topic(c.hall, c.id, 'session')) {
        const m = decode('session', p);
        if (m.ok) this.sessions.push(m.value);
      }
    });
  }
  /** Signs the next record of the chain (not yet sent). */
  next(over: Partial<UnsignedRecord>): RatingRecord {
    const r = makeRecord(this.c.keys, {
      hall: this.c.hall,
      device: this.c.id,
      seq: this.head.seq + 1,
      prev: this.head.hash,
      staffId: null,
      reasons: [],
      ...over,
    });
    this.head = { seq: r.seq, hash: recordHash(r) };
    return r;
  }
  send(r: RatingRecord) {
    return this.client.publishAsync(topic(this.c.hall, this.c.id, 'rating'), JSON.stringify(r), { qos: 1 });
  }
}

describe('the 7-day default (基本满意) and a late real rating that supersedes it', () => {
  it('over the 2025 National Day holidays, counted in working days, with a fake clock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-defaults-'));
    const log = silentLog();
    const clock = { t: bj('2025-09-30T10:00:00') };
    const province = await startProvince({ dbPath: join(dir, 'province.db'), log });
    const hub: Hub = await startHub(
      {
        dataDir: join(dir, 'hub'),
        hall: 'h1',
        mqtt: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        province: { url: `${province.url}/api/evaluations`, lingerMs: 5 },
        defaults: { unit: 'working-days', count: 7 },
      },
      log,
      { now: () => clock.t },
    );
    const hubUrl = `http://127.0.0.1:${hub.ports.http}`;
    cleanup = async () => {
      await hub.close();
      await province.close();
      rmSync(dir, { recursive: true, force: true });
    };
    const { token } = hub.registry.add({ window: '12', settings: { staff: { id: 'S042', name: '王芳', number: null, photo: null } } });
    mkdirSync(join(dir, 'dev'));
    await enrol(join(dir, 'dev'), hubUrl, token, FIRMWARE_VERSION);
    const c = credsIn(join(dir, 'dev'));
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.ports.mqtt}`, {
      clientId: c.id,
      username: c.id,
      password: c.password,
      reconnectPeriod: 0,
    });
    await client.subscribeAsync([topic(c.hall, c.id, 'session'), topic(c.hall, c.id, 'ack')], { qos: 1 });
    const dev = new ScriptedDevice(c, client);

    // Four cases finished on Tuesday 30 September 2025, the day before the holidays.
    const open = (cases: string[]) => hub.ops.openSession({ window: '12', cases, itemCode: 'X1', itemName: '不动产登记' }).session;
    const timedOut = open(['BJ-A']); // the device will report "not rated"
    const silent = open(['BJ-B1', 'BJ-B2']); // nothing comes back at all (a batch)
    const late = open(['BJ-C']); // pressed at once, delivered only after the default
    const prompt = open(['BJ-D']); // pressed and delivered at once
    await waitFor(() => dev.sessions.length === 4, 'the device got the four sessions');
    const deadline = bj('2025-10-17T00:00:00'); // 7 working days: 9, 10, 11 (调休 Saturday), 13–16 October
    for (const s of [timedOut, silent, late, prompt]) expect(s.deadlineAt).toBe(deadline);

    const ref = (s: typeof timedOut) => dev.sessions.find((m) => m.op === 'open' && m.session.id === s.id)!;
    const refOf = (s: typeof timedOut) => (ref(s) as Extract<SessionMessage, { op: 'open' }>).session;
    await dev.send(dev.next({ kind: 'not-rated', level: null, session: refOf(timedOut), staffId: 'S042', at: clock.t + 60_000 }));
    const lateRating = dev.next({ kind: 'rating', level: 2, reasons: ['213'], session: refOf(late), staffId: 'S042', at: clock.t + 5_000 }); // kept back
    const promptRating = dev.next({ kind: 'rating', level: 5, session: refOf(prompt), staffId: 'S042', at: clock.t + 7_000 });
    // The device sends in order: the late one is held back by "the network", the prompt one follows it.
    await dev.send(promptRating);
    await waitFor(async () => (await provinceEvaluations(province)).length === 1, 'the prompt rating at the province');
    expect(hub.sessions.get(timedOut.id)).toMatchObject({ state: 'open', notRatedAt: expect.any(Number), counted: null });

    // One millisecond before the deadline nothing happens; at the deadline, the defaults.
    clock.t = deadline - 1;
    expect(hub.defaults.runDue()).toBe(0);
    clock.t = deadline;
    expect(hub.defaults.runDue()).toBe(3);
    expect(hub.defaults.runDue()).toBe(0);
    // The hall page hears of them at once (the `defaulted` event), not at its 30 s safety-net catch-up.
    const deadlineDay = dayNumber(deadline);
    await waitFor(
      () => hub.web.stats.byDim('channel', deadlineDay, deadlineDay).find((r) => r.key === 'default')?.counts.n3 === 3,
      "the defaults in the hall page's statistics",
      5_000,
    );
    await waitFor(async () => (await provinceEvaluations(province)).length === 4, 'three defaults at the province');
    const defaults = (await provinceEvaluations(province)).filter((e) => e.kind === 'default');
    expect(defaults).toHaveLength(3);
    for (const d of defaults) {
      expect(d).toMatchObject({
        level: 3,
        record: null,
        assessNumber: 1,
        assessedAt: deadline,
        window: '12',
        staffId: 'S042',
        device: c.id,
        supersedes: null,
      });
    }
    expect(defaults.map((d) => d.session!.cases)).toEqual(expect.arrayContaining([['BJ-A'], ['BJ-B1', 'BJ-B2'], ['BJ-C']]));
    expect(new Set(defaults.map((d) => d.id)).size).toBe(3);
    const lateDefault = hub.sessions.get(late.id)!;
    expect(lateDefault).toMatchObject({ state: 'defaulted', counted: { kind: 'default', level: 3 } });

    // The late rating arrives (a gap until now: seq 2 was missing): it supersedes the default.
    clock.t = deadline + 3 * 86_400_000;
    await dev.send(lateRating);
    await waitFor(async () => (await provinceEvaluations(province)).length === 5, 'the correction at the province');
    const correction = (await provinceEvaluations(province)).find((e) => e.kind === 'correction')!;
    expect(correction).toMatchObject({
      id: lateRating.id,
      level: 2,
      reasons: ['213'],
      assessNumber: 2,
      supersedes: lateDefault.defaultId,
      assessedAt: lateRating.at,
    });
    expect(correction.session).toEqual({ id: late.id, cases: ['BJ-C'], itemCode: 'X1', itemName: '不动产登记' });

    // What counts for each session, as the queue system sees it.
    const r = await fetch(`${hubUrl}/api/sessions/${late.id}`, { headers: { authorization: `Bearer ${hub.adminToken}` } });
    const view = (
      (await r.json()) as { session: { state: string; counted: unknown; evaluations: { kind: string; supersedes: string | null }[] } }
    ).session;
    expect(view.state).toBe('corrected');
    expect(view.counted).toEqual({ id: lateRating.id, kind: 'correction', level: 2 });
    expect(view.evaluations.map((e) => [e.kind, e.supersedes])).toEqual([
      ['default', null],
      ['correction', lateDefault.defaultId],
    ]);
    expect(hub.sessions.get(prompt.id)).toMatchObject({
      state: 'rated',
      counted: { id: promptRating.id, kind: 'rating', level: 5 },
      defaultId: null,
    });
    expect(hub.sessions.get(silent.id)).toMatchObject({ state: 'defaulted', counted: { kind: 'default', level: 3 } });
    // The not-rated report was stored but never forwarded.
    expect((await provinceEvaluations(province)).some((e) => e.session?.id === timedOut.id && e.kind !== 'default')).toBe(false);
    expect(await metric(hub, 'hcp_sessions_total', 'outcome="defaulted"')).toBe(3);
    expect(await metric(hub, 'hcp_sessions_total', 'outcome="corrected"')).toBe(1);

    // A second rating for the already rated prompt session: stored, not forwarded (一次一评).
    await dev.send(dev.next({ kind: 'rating', level: 2, reasons: ['213'], session: refOf(prompt), staffId: 'S042', at: clock.t }));
    await waitFor(async () => (await metric(hub, 'hcp_sessions_total', 'outcome="extra-rating"')) === 1, 'the extra rating stored');

    // The hall page's statistics count what the session book counts: the two defaults still
    // standing as their own channel, the superseded one no more, the late 差评 and the prompt
    // rating from the device, and the extra rating not at all (nor does it open a work order).
    hub.factSync.syncNow();
    const period = [dayNumber(bj('2025-09-01T12:00:00')), dayNumber(clock.t)] as const;
    const byChannel = Object.fromEntries(hub.web.stats.byDim('channel', ...period).map((r) => [r.key, r.counts]));
    expect(byChannel.default).toMatchObject({ total: 2, n3: 2 });
    expect(byChannel.device).toMatchObject({ total: 2, n5: 1, n2: 1 });
    expect(hub.web.stats.summary(...period)).toMatchObject({ total: 4, bad: 1 });
    const excluded = hub.db.prepare<[string], { excluded: string | null }>('SELECT excluded FROM rating_facts WHERE id = ?');
    expect(excluded.get(lateDefault.defaultId!)).toEqual({ excluded: 'superseded' });
    expect(hub.web.workOrders.list().map((o) => o.ratingId)).toEqual([lateRating.id]);
    expect(hub.web.facts.checkRollups()).toEqual([]);
    await client.endAsync();
  });
});

describe('the default scheduler', () => {
  it('after a hub start, waits its grace period before making overdue defaults, then wakes at the next deadline', async () => {
    const { DefaultScheduler } = await import('../../hub/sessions/default-scheduler.js');
    const calls: number[] = [];
    let due = 2;
    const t0 = Date.now();
    const book = {
      createDueDefaults: () => {
        calls.push(Date.now() - t0);
        const n = due;
        due = 0;
        return n;
      },
      nextDeadline: () => (calls.length <= 2 ? Date.now() + 150 : null),
    };
    let made = 0;
    const s = new DefaultScheduler(book as never, silentLog(), (n) => (made += n));
    s.start(300);
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toEqual([]); // still in the grace period
    await waitFor(() => made === 2, 'overdue defaults made after the grace period', 2000, 10);
    expect(calls[0]).toBeGreaterThanOrEqual(290);
    await waitFor(() => calls.length >= 3, 'woken again at the next deadline', 2000, 10); // 2 calls at the first run, then one ~150 ms later
    s.stop();
  });
});
