import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode, recordHash, topic, type Ack, type RatingRecord, type Status } from '../../protocol/index.js';
import { TestHall } from '../helpers/hall.js';
import { makeChain, makeRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/wait.js';
import { enrolledDevice, metric, scrape } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

describe('integrity: gaps are reported, forks and forgeries alarmed', () => {
  it('a missing range shows in /api/gaps and /metrics until it is filled; a fork is refused and alarmed', async () => {
    hall = await TestHall.start();
    const c = await enrolledDevice(hall, '05');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
      clientId: c.id,
      username: c.id,
      password: c.password,
      reconnectPeriod: 0,
    });
    const acks: Ack[] = [];
    client.on('message', (_t, p) => {
      const a = decode('ack', p);
      if (a.ok) acks.push(a.value);
    });
    await client.subscribeAsync(topic(c.hall, c.id, 'ack'), { qos: 1 });
    // Honest claims (its window, no staff, no session): only integrity is under test here.
    const chain = makeChain(c.keys, 6, { hall: c.hall, device: c.id, window: '05', staffId: null, session: null });
    const send = (r: RatingRecord) => client.publishAsync(topic(c.hall, c.id, 'rating'), JSON.stringify(r), { qos: 1 });
    const acked = () => new Set(acks.flatMap((a) => a.acks.map((x) => x.seq)));

    await send(chain[0]!);
    await send(chain[4]!); // seq 2–4 lost on the way
    await waitFor(() => acked().has(5), 'seq 5 acknowledged');
    const gaps = await hall.api<{ gaps: { device: string; epoch: number; from: number; to: number; missing: number }[] }>('/api/gaps');
    expect(gaps.gaps).toEqual([expect.objectContaining({ device: c.id, epoch: 1, from: 2, to: 4, missing: 3 })]);
    expect(await metric(hall, 'hcp_missing_records', `device="${c.id}"`)).toBe(3);
    expect(await metric(hall, 'hcp_ingest_gaps_total')).toBe(1);
    expect(await metric(hall, 'hcp_alarms_total', 'kind="sequence-gap"')).toBe(1);
    const dev = await hall.api<{ gaps: { from: number; to: number }[] }>(`/api/devices/${c.id}`);
    expect(dev.gaps).toEqual([expect.objectContaining({ from: 2, to: 4 })]);

    // The missing records turn up (a resend): the gap closes.
    await send(chain[2]!);
    await waitFor(() => acked().has(3), 'seq 3 acknowledged');
    expect((await hall.api<{ gaps: { from: number; to: number }[] }>('/api/gaps')).gaps.map((g) => [g.from, g.to])).toEqual([
      [2, 2],
      [4, 4],
    ]);
    await send(chain[1]!);
    await send(chain[3]!);
    await waitFor(() => acked().has(2) && acked().has(4), 'seq 2 and 4 acknowledged');
    expect((await hall.api<{ gaps: unknown[] }>('/api/gaps')).gaps).toEqual([]);
    expect(await metric(hall, 'hcp_missing_records', `device="${c.id}"`)).toBe(0);

    // A fork: another validly signed record claiming seq 6 after the real one (a cloned device).
    await send(chain[5]!);
    await waitFor(() => acked().has(6), 'seq 6 acknowledged');
    const fork = makeRecord(c.keys, {
      hall: c.hall,
      device: c.id,
      window: '05',
      staffId: null,
      session: null,
      seq: 6,
      prev: recordHash(chain[4]!),
      level: 5,
      reasons: [],
    });
    await send(fork);
    await waitFor(() => acks.some((a) => a.rejects.some((r) => r.id === fork.id)), 'fork refused to the device');
    const alarms = await hall.api<{ alarms: { n: number; kind: string; device: string; message: string }[] }>('/api/alarms?open=1');
    expect(alarms.alarms.map((a) => a.kind)).toEqual(expect.arrayContaining(['chain-fork', 'sequence-gap']));
    expect(await metric(hall, 'hcp_ingest_rejected_total', 'reason="seq-reused"')).toBe(1);
    // Hall IT acknowledges the alarm; it leaves the open list.
    const forkAlarm = alarms.alarms.find((a) => a.kind === 'chain-fork')!;
    await hall.api(`/api/alarms/${forkAlarm.n}/acknowledge`, {});
    expect((await hall.api<{ alarms: { kind: string }[] }>('/api/alarms?open=1')).alarms.map((a) => a.kind)).toEqual(['sequence-gap']);
    const rejections = await hall.api<{ rejections: { reason: string; device: string; seq: number }[] }>(`/api/rejections?device=${c.id}`);
    expect(rejections.rejections[0]).toMatchObject({ reason: 'seq-reused', device: c.id, seq: 6 });
    await client.endAsync();
  });
});

describe('device status', () => {
  it('online/offline from the connection and the last will, last seen, firmware, backlog, clock offset, faults — in the API and /metrics', async () => {
    hall = await TestHall.start();
    const c = await enrolledDevice(hall, '06');
    const status = (state: 'online' | 'offline', over: Partial<Status> = {}): Buffer =>
      encode('status', {
        v: 1,
        state,
        firmware: 'haochaping-device/9.9.9',
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        uptimeS: 3600,
        clockSynced: true,
        at: Date.now(),
        outbox: { depth: 17, oldestAgeS: 42, capacity: 100_000, lastSeq: 99 },
        counters: { ratings: 99 },
        faults: [],
        ...over,
      });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
      clientId: c.id,
      username: c.id,
      password: c.password,
      reconnectPeriod: 0,
      will: { topic: topic(c.hall, c.id, 'status'), payload: status('offline'), qos: 1, retain: true },
    });
    // The device's clock runs 90 s fast, and a button line is faulty.
    await client.publishAsync(topic(c.hall, c.id, 'status'), status('online', { at: Date.now() + 90_000, faults: ['button-3-stuck'] }), {
      qos: 1,
      retain: true,
    });
    type Dev = {
      id: string;
      online: boolean;
      health: {
        online: boolean;
        reportedState: string;
        lastSeen: number;
        firmware: string;
        backlog: { depth: number; oldestAgeS: number };
        clock: { synced: boolean; offsetMs: number; ok: boolean };
        faults: string[];
      };
    };
    const get = async () => (await hall!.api<{ devices: Dev[] }>('/api/devices')).devices.find((d) => d.id === c.id)!;
    await waitFor(async () => (await get()).health.firmware === 'haochaping-device/9.9.9', 'status stored');
    const d = await get();
    expect(d.health).toMatchObject({
      online: true,
      reportedState: 'online',
      firmware: 'haochaping-device/9.9.9',
      backlog: { depth: 17, oldestAgeS: 42 },
      faults: ['button-3-stuck'],
      clock: { synced: true, ok: false },
    });
    expect(d.health.clock.offsetMs).toBeGreaterThan(89_000);
    expect(d.health.clock.offsetMs).toBeLessThan(91_000);
    expect(Date.now() - d.health.lastSeen).toBeLessThan(5_000);
    expect(await metric(hall, 'hcp_device_online', `device="${c.id}"`)).toBe(1);
    expect(await metric(hall, 'hcp_device_outbox_depth', `device="${c.id}"`)).toBe(17);
    expect(await metric(hall, 'hcp_device_clock_offset_seconds', `device="${c.id}"`)).toBeGreaterThan(89);
    expect(await metric(hall, 'hcp_devices_connected')).toBe(1);

    // The connection dies without a goodbye: the will says offline.
    client.stream.destroy();
    await waitFor(async () => (await get()).health.reportedState === 'offline', 'last will stored');
    expect((await get()).online).toBe(false);
    expect(await metric(hall, 'hcp_device_online', `device="${c.id}"`)).toBe(0);
    const text = await scrape(hall);
    for (const name of [
      'hcp_ratings_stored_total',
      'hcp_ingest_rejected_total',
      'hcp_ack_latency_seconds_bucket',
      'hcp_forward_backlog',
      'hcp_devices_connected',
    ])
      expect(text).toContain(name);
  });
});
