import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateKeys } from '../../device/identity/keys.js';
import { decode, recordHash, signRecord, topic, type Ack, type RatingRecord } from '../../protocol/index.js';
import { TestHall } from '../helpers/hall.js';
import { captureLog } from '../helpers/log.js';
import { sleep, waitFor } from '../helpers/wait.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

async function metric(h: TestHall, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${h.hubUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminToken}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('the hub refuses bad rating messages, counts and logs each, and keeps serving', () => {
  it('altered, replayed, re-sequenced, malformed and oversized records', async () => {
    const cap = captureLog();
    hall = await TestHall.start({ log: cap.log });
    const victim = await hall.addDevice('01');
    const honest = await hall.addDevice('02');
    await waitFor(() => victim.agent.link.connected && honest.agent.link.connected, 'devices to connect');
    victim.buttons.press(0);
    await waitFor(() => victim.agent.outbox.depth() === 0, 'first record acked');
    const original = victim.stored[0]!;
    // Stop the real agent and speak for the device with its own credentials and key.
    await victim.agent.stop();
    const enr = JSON.parse(readFileSync(join(victim.dir, 'enrolment.json'), 'utf8')) as {
      username: string;
      password: string;
      hall: string;
    };
    const keys = loadOrCreateKeys(victim.dir);
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
      clientId: enr.username,
      username: enr.username,
      password: enr.password,
      reconnectPeriod: 0,
    });
    const acks: Ack[] = [];
    await rogue.subscribeAsync(topic(enr.hall, victim.id, 'ack'), { qos: 1 });
    rogue.on('message', (_t, p) => {
      const a = decode('ack', p);
      if (a.ok) acks.push(a.value);
    });
    const send = (payload: string | Buffer) => rogue.publishAsync(topic(enr.hall, victim.id, 'rating'), payload, { qos: 1 });

    // 1. Altered in transit: level changed after signing.
    const next = signRecord(
      {
        ...original,
        id: '019abf00-0000-7000-8000-000000000001',
        seq: 2,
        prev: recordHash(original),
        level: 1,
        reasons: ['115'],
      } as RatingRecord,
      keys.privateKey,
    );
    await send(JSON.stringify({ ...next, level: 5, reasons: [] }));
    // 2. Replayed: the very record the hub already stored.
    await send(JSON.stringify(original));
    // 3. Replayed under a new id: seq 1 again, validly signed.
    await send(
      JSON.stringify(signRecord({ ...original, id: '019abf00-0000-7000-8000-000000000002', level: 4 } as RatingRecord, keys.privateKey)),
    );
    // 4. Malformed and 5. oversized payloads.
    await send('{"v":1,"id":');
    await send(Buffer.alloc(20_000, 0x61));

    // The honest device is served throughout.
    for (let i = 0; i < 10; i++) honest.rate(i % 5);
    await waitFor(async () => (await hall!.provinceRecords()).length === 11, 'honest records + the original at the province');

    for (const reason of ['bad-signature', 'duplicate', 'seq-reused', 'malformed', 'oversized']) {
      expect(await metric(hall, 'hcp_ingest_rejected_total', `reason="${reason}"`), reason).toBe(1);
      const logged = cap.lines.filter((l) => l.reason === reason && l.device === victim.id);
      expect(logged, `log line for ${reason}`).toHaveLength(1);
    }
    // The replay is acknowledged again (nothing stored twice); the forgeries are refused to the device.
    const flatten = () => ({ acks: acks.flatMap((a) => a.acks), rejects: acks.flatMap((a) => a.rejects) });
    await waitFor(() => flatten().acks.length + flatten().rejects.length >= 3, 'acks for the replay and the refusals');
    const flat = flatten();
    expect(flat.acks).toEqual([{ seq: 1, id: original.id }]);
    expect(flat.rejects.map((r) => r.reason).sort()).toEqual(['bad-signature', 'seq-reused']);

    // And the good version of record 2 is still welcome afterwards.
    await send(JSON.stringify(next));
    await waitFor(async () => (await hall!.provinceRecords()).length === 12, 'record 2 at the province');
    const stored = (await hall.provinceRecords()).map((r) => r.record).filter((r) => r.device === victim.id);
    expect(stored.map((r) => [r.seq, r.level])).toEqual([
      [1, original.level],
      [2, 1],
    ]);
    await rogue.endAsync();
    await sleep(50);
  });

  it("records published on another device's topic or for another hall are refused", async () => {
    hall = await TestHall.start();
    const a = await hall.addDevice('01');
    const b = await hall.addDevice('02');
    await waitFor(() => a.agent.link.connected && b.agent.link.connected, 'devices to connect');
    await a.agent.stop();
    const enr = JSON.parse(readFileSync(join(a.dir, 'enrolment.json'), 'utf8')) as { username: string; password: string; hall: string };
    const keys = loadOrCreateKeys(a.dir);
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
      clientId: enr.username,
      username: enr.username,
      password: enr.password,
      reconnectPeriod: 0,
    });
    b.buttons.press(0);
    await waitFor(() => b.agent.outbox.depth() === 0, 'b acked');
    const rec = b.stored[0]!;
    // a publishes b's genuine record on b's topic: the client is not the device.
    await rogue.publishAsync(topic(enr.hall, b.id, 'rating'), JSON.stringify({ ...rec }), { qos: 1 });
    // a publishes its own record claiming another hall.
    const foreign = signRecord({ ...rec, hall: 'other-hall', device: a.id, seq: 1 } as RatingRecord, keys.privateKey);
    await rogue.publishAsync(topic('other-hall', a.id, 'rating'), JSON.stringify(foreign), { qos: 1 });
    await waitFor(
      async () => (await metric(hall!, 'hcp_ingest_rejected_total', 'reason="topic-mismatch"')) === 1,
      'topic mismatch counted',
    );
    await waitFor(async () => (await metric(hall!, 'hcp_ingest_rejected_total', 'reason="unknown-device"')) === 1, 'foreign hall counted');
    expect((await hall.province.stats()).accepted).toBe(1);
    await rogue.endAsync();
  });
});
