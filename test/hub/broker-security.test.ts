import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { encode, generateDeviceKeys, GENESIS_HASH, signRecord, topic, type Status } from '../../protocol/index.js';
import { DROPPED_TOPIC } from '../../hub/broker/hooks/authorize-publish.js';
import { HubConfigSchema } from '../../hub/config.js';
import { startHub } from '../../hub/hub.js';
import { makeHallPki } from '../../hub/tls/hall-ca.js';
import { TestHall } from '../helpers/hall.js';
import { captureLog, silentLog } from '../helpers/log.js';
import { makeRecord } from '../helpers/records.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { enrolledDevice, metric, mosquittoPub, run, type Creds } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

/** The SUBACK return codes (mqtt.js rejects when any is 0x80, with the SUBACK attached). */
async function granted(client: mqtt.MqttClient, topics: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(topics, { qos: 1 })).map((g) => g.qos);
  } catch (e) {
    const packet = (e as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw e;
    return packet.granted;
  }
}

const opts = (c: Creds, over: Partial<IClientOptions> = {}): IClientOptions => ({
  clientId: c.id,
  username: c.id,
  password: c.password,
  reconnectPeriod: 0,
  connectTimeout: 5000,
  ...over,
});

function statusOf(c: Creds, state: 'online' | 'offline'): Buffer {
  const s: Status = {
    v: 1,
    state,
    firmware: 'test/1',
    bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
    uptimeS: 1,
    clockSynced: true,
    at: Date.now(),
    outbox: { depth: 0, oldestAgeS: null, capacity: 100, lastSeq: 0 },
    counters: {},
    faults: [],
  };
  return encode('status', s);
}

/** An MQTT 3.1.1 CONNECT packet with clean session, keep-alive 60 s, user name and password. */
function mqttConnect(clientId: string, user: string, password: string): Buffer {
  const str = (x: string) => {
    const b = Buffer.from(x);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 60]), str(clientId), str(user), str(password)]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]); // body < 128 bytes: one length byte
}

/** A plain TCP connection to the TLS port that sends the first bytes of a ClientHello and stops: ms until closed. */
async function rawToTlsPort(port: number): Promise<number> {
  const sock = netConnect(port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise<void>((res) => sock.once('connect', () => res()));
  const t0 = Date.now();
  const closed = new Promise<number>((res) => sock.once('close', () => res(Date.now() - t0)));
  sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00]));
  return closed;
}

/** A record of `c` signed with its own key, for seq 1 of its chain. */
function recordOf(c: Creds, over: Parameters<typeof makeRecord>[1] = {}) {
  return makeRecord(c.keys, { hall: c.hall, device: c.id, seq: 1, prev: GENESIS_HASH, ...over });
}

describe('the hall broker refuses what a device may not do, and keeps serving the others', () => {
  it('with mqtt.js and with a foreign client (mosquitto_pub / mosquitto_sub)', async () => {
    const cap = captureLog();
    hall = await TestHall.start({ log: cap.log });
    const port = hall.ports.mqtt;
    // An honest evaluator keeps rating through everything below.
    const honest = await hall.addDevice('01');
    await waitFor(() => honest.agent.link.connected, 'honest device connected');
    let presses = 0;
    const presser = setInterval(() => {
      honest.rate(presses++ % 5);
    }, 40);
    const a = await enrolledDevice(hall, '02');
    const b = await enrolledDevice(hall, '03');
    // m speaks through mosquitto's tools (its own id: a client id may only be connected once).
    // A walk-up device: its sessionless records count (in session mode the hall's policy keeps them out).
    const m = await enrolledDevice(hall, '04', { mode: 'walk-up' });
    try {
      // --- wrong password, client id ≠ username -------------------------------------------
      await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, opts(a, { password: 'wrong' }))).rejects.toMatchObject({ code: 4 });
      await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, opts(a, { clientId: b.id }))).rejects.toMatchObject({ code: 2 });
      const wrongPw = await mosquittoPub(port, { ...a, password: 'wrong' }, topic(a.hall, a.id, 'status'), ['-m', 'x']);
      expect(wrongPw.code).not.toBe(0);
      expect(wrongPw.stderr).toMatch(/bad user name or password/i);
      const wrongId = await mosquittoPub(port, { id: b.id, user: a.id, password: a.password }, topic(a.hall, a.id, 'status'), ['-m', 'x']);
      expect(wrongId.code).not.toBe(0);
      expect(wrongId.stderr).toMatch(/identifier rejected/i);
      expect(await metric(hall, 'hcp_ingest_rejected_total', 'reason="auth-bad-credentials"')).toBe(2);
      expect(await metric(hall, 'hcp_ingest_rejected_total', 'reason="auth-client-id-mismatch"')).toBe(2);

      // --- subscribing to another device's topics, to wildcards, to $SYS -------------------
      const ca = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, opts(a));
      const got: string[] = [];
      ca.on('message', (t) => got.push(t));
      const codes = await granted(ca, [
        topic(b.hall, b.id, 'ack'),
        topic(b.hall, b.id, 'config'),
        `hcp/v1/${b.hall}/+/session`,
        '#',
        '$SYS/#',
        topic(a.hall, a.id, 'rating'),
        topic(a.hall, a.id, 'config'),
      ]);
      expect(codes).toEqual([128, 128, 128, 128, 128, 128, 1]);
      await waitFor(() => got.includes(topic(a.hall, a.id, 'config')), 'a gets its own retained config');
      const subOther = await run('mosquitto_sub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-V',
        'mqttv311',
        '-i',
        a.id,
        '-u',
        a.id,
        '-P',
        a.password,
        '-t',
        topic(b.hall, b.id, 'config'),
        '-C',
        '1',
        '-W',
        '3',
      ]);
      expect(subOther.stderr + subOther.stdout).toMatch(/denied/i);
      // mosquitto_sub took a's client id: mqtt.js's connection was taken over; connect again.
      await waitFor(() => !ca.connected, 'first connection taken over');
      ca.end(true);
      const ca2 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, opts(a));
      ca2.on('message', (t) => got.push(t));
      expect(await granted(ca2, ['#', '$SYS/#', topic(a.hall, a.id, 'ack')])).toEqual([128, 128, 1]);

      // --- publishing to another device's topics: dropped, counted, connection kept ---------
      const bRecord = recordOf(b);
      const forB = await mosquittoPub(port, m, topic(b.hall, b.id, 'rating'), ['-m', JSON.stringify(bRecord)]);
      expect(forB.code).toBe(0); // MQTT 3.1.1 cannot say no: acknowledged and dropped
      await ca2.publishAsync(topic(b.hall, b.id, 'status'), statusOf(b, 'offline'), { qos: 1, retain: true });
      await ca2.publishAsync(topic(a.hall, a.id, 'config'), Buffer.from('{}'), { qos: 1, retain: true });
      await ca2.publishAsync('$SYS/broker/clients', Buffer.from('x'), { qos: 1 });
      await ca2.publishAsync('anything/else', Buffer.from('x'), { qos: 1 });
      expect(ca2.connected).toBe(true);
      await waitFor(
        async () => (await metric(hall!, 'hcp_ingest_rejected_total', 'reason="topic-mismatch"')) === 1,
        "rating on b's topic counted",
      );
      expect(await metric(hall, 'hcp_broker_denied_total', 'action="publish",reason="not-own-topic"')).toBe(2);
      expect(await metric(hall, 'hcp_broker_denied_total', 'action="publish",reason="wrong-direction"')).toBe(1);
      expect(await metric(hall, 'hcp_broker_denied_total', 'action="publish",reason="sys-topic"')).toBe(1);
      expect(await metric(hall, 'hcp_broker_denied_total', 'action="publish",reason="not-our-topic"')).toBe(1);
      const dev = await hall.api<{ devices: { id: string; statusAt: number | null }[] }>('/api/devices');
      expect(dev.devices.find((d) => d.id === b.id)!.statusAt).toBeNull(); // a could not speak for b
      expect(cap.lines.some((l) => l.reason === 'topic-mismatch' && l.device === m.id)).toBe(true);

      // --- malformed, oversized, forged records from the foreign client -------------------
      const bigFile = join(hall.dir, 'big.json');
      writeFileSync(bigFile, JSON.stringify({ ...recordOf(m), staffId: 'x'.repeat(20_000) }));
      const forger = generateDeviceKeys();
      const { sig: _sig, ...unsigned } = recordOf(m);
      const forged = signRecord(unsigned, forger.privateKey);
      const ownTopic = topic(m.hall, m.id, 'rating');
      expect((await mosquittoPub(port, m, ownTopic, ['-m', '{"v":1,"id":'])).code).toBe(0);
      expect((await mosquittoPub(port, m, ownTopic, ['-f', bigFile])).code).toBe(0);
      expect((await mosquittoPub(port, m, ownTopic, ['-m', JSON.stringify(forged)])).code).toBe(0);
      expect((await mosquittoPub(port, m, ownTopic, ['-m', JSON.stringify({ ...recordOf(m), level: 7 })])).code).toBe(0);
      for (const reason of ['malformed', 'oversized', 'bad-signature', 'invalid']) {
        await waitFor(async () => (await metric(hall!, 'hcp_ingest_rejected_total', `reason="${reason}"`)) === 1, `${reason} counted`);
        expect(
          cap.lines.filter((l) => l.reason === reason && l.device === m.id),
          `${reason} logged with the device id`,
        ).toHaveLength(1);
      }
      const alarms = await hall.api<{ alarms: { kind: string; device: string }[] }>('/api/alarms?open=1');
      expect(alarms.alarms).toContainEqual(expect.objectContaining({ kind: 'bad-signature', device: m.id }));
      // ...and m's genuine record is still welcome.
      const good = recordOf(m);
      expect((await mosquittoPub(port, m, ownTopic, ['-m', JSON.stringify(good)])).code).toBe(0);
      await waitFor(async () => (await hall!.provinceRecords()).some((r) => r.record.id === good.id), "m's good record at the province");
      // a never received anything but its own topics.
      await sleep(200);
      // (its ack topic carries the chain head the hub sends when a device subscribes to it)
      expect(new Set(got)).toEqual(new Set([topic(a.hall, a.id, 'config'), topic(a.hall, a.id, 'ack')]));

      // --- revoke: disconnected at once, refused from then on ------------------------------
      const closed = new Promise<void>((res) => ca2.once('close', () => res()));
      await hall.api(`/api/devices/${a.id}/revoke`, {});
      await closed;
      await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, opts(a))).rejects.toMatchObject({ code: 4 });
      const revokedPub = await mosquittoPub(port, a, topic(a.hall, a.id, 'rating'), ['-m', JSON.stringify(recordOf(a))]);
      expect(revokedPub.code).not.toBe(0);
      expect(revokedPub.stderr).toMatch(/bad user name or password/i);
      ca2.end(true);
    } finally {
      clearInterval(presser);
    }
    // The honest device was served throughout: every press it stored reached the province.
    await waitFor(() => honest.agent.outbox.depth() === 0, 'honest outbox drained');
    const atProvince = (await hall.provinceRecords()).filter((r) => r.record.device === honest.id);
    expect(presses).toBeGreaterThan(10);
    expect(atProvince.map((r) => r.record.seq)).toEqual(honest.stored.map((r) => r.seq));
  });

  it("a second connection with the same client id takes over; the first one's will does not mark the device offline", async () => {
    hall = await TestHall.start();
    const a = await enrolledDevice(hall, '02');
    const url = `mqtt://127.0.0.1:${hall.ports.mqtt}`;
    const will = { topic: topic(a.hall, a.id, 'status'), payload: statusOf(a, 'offline'), qos: 1 as const, retain: true };
    const first = await mqtt.connectAsync(url, opts(a, { will }));
    await first.publishAsync(topic(a.hall, a.id, 'status'), statusOf(a, 'online'), { qos: 1, retain: true });
    const firstClosed = new Promise<void>((res) => first.once('close', () => res()));
    const second = await mqtt.connectAsync(url, opts(a, { will }));
    await firstClosed;
    // The taken-over connection's will ('offline') must not be published: the device is online.
    await sleep(300);
    const dev = await hall.api<{ devices: { id: string; online: boolean; health: { reportedState: string } }[] }>('/api/devices');
    const d = dev.devices.find((x) => x.id === a.id)!;
    expect(d.online).toBe(true);
    expect(d.health.reportedState).toBe('online');
    // When the current connection dies without a DISCONNECT, its will says offline.
    second.stream.destroy();
    await waitFor(
      async () =>
        (await hall!.api<{ devices: { id: string; online: boolean; health: { reportedState: string } }[] }>('/api/devices')).devices.find(
          (x) => x.id === a.id,
        )!.health.reportedState === 'offline',
      'will marks the device offline',
    );
    first.end(true);
  });

  it('a last will aimed at another topic is refused at connect; an announced giant packet closes the connection', async () => {
    hall = await TestHall.start();
    const a = await enrolledDevice(hall, '02');
    const b = await enrolledDevice(hall, '03');
    const url = `mqtt://127.0.0.1:${hall.ports.mqtt}`;
    await expect(
      mqtt.connectAsync(
        url,
        opts(a, { will: { topic: topic(b.hall, b.id, 'status'), payload: statusOf(b, 'offline'), qos: 1, retain: true } }),
      ),
    ).rejects.toMatchObject({ code: 5 });
    await expect(
      mqtt.connectAsync(
        url,
        opts(a, { will: { topic: topic(a.hall, a.id, 'rating'), payload: Buffer.from('{}'), qos: 1, retain: false } }),
      ),
    ).rejects.toMatchObject({ code: 5 });
    const viaMosquitto = await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hall.ports.mqtt),
      '-V',
      'mqttv311',
      '-i',
      a.id,
      '-u',
      a.id,
      '-P',
      a.password,
      '-t',
      topic(a.hall, a.id, 'status'),
      '-m',
      'x',
      '--will-topic',
      topic(b.hall, b.id, 'status'),
      '--will-payload',
      'x',
    ]);
    expect(viaMosquitto.code).not.toBe(0);
    expect(viaMosquitto.stderr).toMatch(/not authori[sz]ed/i);
    expect(await metric(hall, 'hcp_broker_denied_total', 'action="will",reason="will-not-own-topic"')).toBe(2);

    // A PUBLISH header announcing 10 MB: the hub closes the socket before buffering it.
    const sock = netConnect(hall.ports.mqtt, '127.0.0.1');
    await new Promise<void>((res) => sock.once('connect', () => res()));
    const closed = new Promise<void>((res) => sock.once('close', () => res()));
    sock.on('error', () => {});
    sock.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05])); // PUBLISH, remaining length 10,485,760
    await closed;
    expect(await metric(hall, 'hcp_broker_denied_total', 'action="packet",reason="oversized"')).toBe(1);
    // Bytes that are not MQTT at all: the connection is closed, nothing else happens.
    const junk = netConnect(hall.ports.mqtt, '127.0.0.1');
    junk.on('error', () => {});
    await new Promise<void>((res) => junk.once('connect', () => res()));
    const junkClosed = new Promise<void>((res) => junk.once('close', () => res()));
    junk.write(Buffer.from('GET / HTTP/1.1\r\nHost: hub\r\n\r\n\u0000\u00ff\u0010\u0002garbage'));
    await junkClosed;
    // Others still connect fine.
    const ok = await mqtt.connectAsync(url, opts(a));
    expect(ok.connected).toBe(true);
    await ok.endAsync();
  });

  it('a device may not retain a rating (refused and counted, not stored, not kept by the broker); its status is retained by design', async () => {
    hall = await TestHall.start();
    const m = await enrolledDevice(hall, '05');
    const port = hall.ports.mqtt;
    const ratingTopic = topic(m.hall, m.id, 'rating');
    const rec = recordOf(m);
    // DESIGN.md: rating is QoS 1 and never retained; a foreign client sets the flag anyway.
    expect((await mosquittoPub(port, m, ratingTopic, ['-r', '-m', JSON.stringify(rec)])).code).toBe(0);
    await waitFor(async () => (await metric(hall!, 'hcp_ingest_rejected_total', 'reason="retained"')) === 1, 'retained rating counted');
    expect(await metric(hall, 'hcp_broker_denied_total', 'action="publish",reason="retained"')).toBe(1);
    const stats = await hall.api<{ stored: number }>('/api/stats');
    expect(stats.stored).toBe(0);
    const retainedTopics = async () => {
      const persistence = (
        hall!.hub!.broker.aedes as unknown as { persistence: { createRetainedStream(pattern: string): AsyncIterable<{ topic: string }> } }
      ).persistence;
      const out: string[] = [];
      for (const pattern of ['#', DROPPED_TOPIC]) for await (const p of persistence.createRetainedStream(pattern)) out.push(p.topic);
      return out;
    };
    expect((await retainedTopics()).filter((t) => t.endsWith('/rating') || t.startsWith('$'))).toEqual([]);
    // Status is retained per the protocol (and its will says offline): the flag is welcome there.
    expect((await mosquittoPub(port, m, topic(m.hall, m.id, 'status'), ['-r', '-m', statusOf(m, 'online').toString()])).code).toBe(0);
    await waitFor(
      async () =>
        (await hall!.api<{ devices: { id: string; statusAt: number | null }[] }>('/api/devices')).devices.find((d) => d.id === m.id)!
          .statusAt !== null,
      'retained status stored',
    );
    expect(await retainedTopics()).toContain(topic(m.hall, m.id, 'status'));
    // The same record sent as the protocol says is stored: nothing was lost by the refusal.
    expect((await mosquittoPub(port, m, ratingTopic, ['-m', JSON.stringify(rec)])).code).toBe(0);
    await waitFor(async () => (await hall!.api<{ stored: number }>('/api/stats')).stored === 1, 'the unretained rating stored');
  });

  it('closes a connection that sends half a CONNECT, or stops in its TLS handshake, after the connect timeout, not after 30 s', async () => {
    expect(HubConfigSchema.parse({ dataDir: '/x', hall: 'h' }).mqtt.limits.connectTimeoutMs).toBe(5_000);
    const dir = mkdtempSync(join(tmpdir(), 'hcp-connect-'));
    const pki = await makeHallPki({ hall: 'h1', hosts: ['127.0.0.1'] });
    for (const [f, text] of [
      ['server.key', pki.serverKey],
      ['server.crt', pki.serverCert],
    ] as const)
      writeFileSync(join(dir, f), text);
    const tls = { port: 0, keyFile: join(dir, 'server.key'), certFile: join(dir, 'server.crt') };
    const hub = await startHub(
      {
        dataDir: join(dir, 'hub'),
        hall: 'h1',
        mqtt: { host: '127.0.0.1', port: 0, tls, limits: { connectTimeoutMs: 1_000 } },
        http: { host: '127.0.0.1', port: 0 },
      },
      silentLog(),
    );
    try {
      const connectPacket = mqttConnect('ev-001', 'ev-001', 'wrong-password');
      const half = connectPacket.subarray(0, connectPacket.length >> 1);
      /** Milliseconds from sending `bytes` until the hub closes the connection. */
      const closedAfter = async (bytes: Buffer, over: 'tcp' | 'tls' = 'tcp') => {
        const sock: Socket =
          over === 'tcp'
            ? netConnect(hub.ports.mqtt!, '127.0.0.1')
            : tlsConnect({ port: hub.ports.mqtts!, host: '127.0.0.1', ca: pki.caCert });
        sock.on('error', () => {});
        await new Promise<void>((res) => sock.once(over === 'tcp' ? 'connect' : 'secureConnect', () => res()));
        const t0 = Date.now();
        const closed = new Promise<number>((res) => sock.once('close', () => res(Date.now() - t0)));
        sock.write(bytes);
        return closed;
      };
      const waits = await Promise.all([
        closedAfter(half), // half a CONNECT
        closedAfter(Buffer.alloc(0)), // nothing at all
        closedAfter(half, 'tls'), // half a CONNECT inside TLS
        rawToTlsPort(hub.ports.mqtts!), // the first bytes of a ClientHello: the TLS handshake never ends
      ]);
      for (const ms of waits) {
        expect(ms).toBeGreaterThanOrEqual(900);
        expect(ms).toBeLessThan(4_000);
      }
      // A whole CONNECT is answered (here: CONNACK "bad user name or password") well before it.
      const sock = netConnect(hub.ports.mqtt!, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise<void>((res) => sock.once('connect', () => res()));
      const t0 = Date.now();
      const connack = new Promise<Buffer>((res) => sock.once('data', res));
      sock.write(connectPacket);
      expect([...(await connack)]).toEqual([0x20, 0x02, 0x00, 0x04]);
      expect(Date.now() - t0).toBeLessThan(900);
      sock.destroy();
    } finally {
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
