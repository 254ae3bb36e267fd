import mqtt from 'mqtt';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enrol } from '../../device/enrolment/enrolment.js';
import { FIRMWARE_VERSION } from '../../device/agent.js';
import { checkPublish, checkSubscribe, mayReceive } from '../../hub/broker/acl.js';
import { FrameSizeGuard } from '../../hub/broker/hooks/packet-size.js';
import { RateLimiter } from '../../hub/broker/rate-limit.js';
import { startHub } from '../../hub/hub.js';
import type { HubConfigInput } from '../../hub/config.js';
import { decode, encode, topic } from '../../protocol/index.js';
import { makeChain } from '../helpers/records.js';
import { silentLog } from '../helpers/log.js';
import { credsIn, metric } from './helpers.js';

/** A hub of its own (in this process) with one enrolled device connected as a plain mqtt.js client. */
async function soloHub(limits: NonNullable<HubConfigInput['mqtt']>['limits'] = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-solo-'));
  const hub = await startHub(
    { dataDir: join(dir, 'hub'), hall: 'h1', mqtt: { host: '127.0.0.1', port: 0, limits }, http: { host: '127.0.0.1', port: 0 } },
    silentLog(),
  );
  const hubUrl = `http://127.0.0.1:${hub.ports.http}`;
  const { token } = hub.registry.add({ window: '1' });
  mkdirSync(join(dir, 'd'));
  await enrol(join(dir, 'd'), hubUrl, token, FIRMWARE_VERSION);
  const c = credsIn(join(dir, 'd'));
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.ports.mqtt}`, {
    clientId: c.id,
    username: c.id,
    password: c.password,
    reconnectPeriod: 0,
  });
  return {
    hub,
    hubUrl,
    c,
    client,
    async close() {
      client.end(true);
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('topic rules', () => {
  const H = 'hall-1';
  it('a device publishes only its own rating and status', () => {
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-1/ev-1/rating')).toEqual({ ok: true, kind: 'rating' });
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-1/ev-1/status')).toEqual({ ok: true, kind: 'status' });
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-1/ev-2/rating')).toEqual({ ok: false, reason: 'not-own-topic' });
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-2/ev-1/rating')).toEqual({ ok: false, reason: 'wrong-hall' });
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-1/ev-1/config')).toEqual({ ok: false, reason: 'wrong-direction' });
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-1/ev-1/ack')).toEqual({ ok: false, reason: 'wrong-direction' });
    expect(checkPublish(H, 'ev-1', '$SYS/x')).toEqual({ ok: false, reason: 'sys-topic' });
    expect(checkPublish(H, 'ev-1', 'hcp/v1/hall-1/ev-1/rating/extra')).toEqual({ ok: false, reason: 'not-our-topic' });
  });
  it('a device subscribes only to its own ack, config and session, without wildcards', () => {
    for (const k of ['ack', 'config', 'session']) expect(checkSubscribe(H, 'ev-1', `hcp/v1/hall-1/ev-1/${k}`).ok).toBe(true);
    expect(checkSubscribe(H, 'ev-1', 'hcp/v1/hall-1/ev-1/rating')).toEqual({ ok: false, reason: 'wrong-direction' });
    expect(checkSubscribe(H, 'ev-1', 'hcp/v1/hall-1/+/ack')).toEqual({ ok: false, reason: 'wildcard' });
    expect(checkSubscribe(H, 'ev-1', '#')).toEqual({ ok: false, reason: 'wildcard' });
    expect(checkSubscribe(H, 'ev-1', '$SYS/#')).toEqual({ ok: false, reason: 'sys-topic' });
    expect(mayReceive(H, 'ev-1', 'hcp/v1/hall-1/ev-2/ack')).toBe(false);
  });
});

describe('packet size guard', () => {
  it('skips packet bodies across chunks and stops at a header announcing too much', () => {
    const g = new FrameSizeGuard(1000);
    const small = Buffer.concat([Buffer.from([0x30, 0x83, 0x01]), Buffer.alloc(131)]); // 131-byte PUBLISH
    expect(g.feed(small.subarray(0, 2))).toBeNull();
    expect(g.feed(small.subarray(2, 50))).toBeNull();
    expect(g.feed(Buffer.concat([small.subarray(50), Buffer.from([0xc0, 0x00])]))).toBeNull(); // + PINGREQ
    expect(g.feed(Buffer.from([0x30, 0xe9]))).toBeNull(); // length continues…
    expect(g.feed(Buffer.from([0x07]))).toBe(1001); // 0x69 + 7×128 = 1001 > 1000
  });
  it('a malformed length (more than four bytes) is refused', () => {
    expect(new FrameSizeGuard(1 << 30).feed(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).not.toBeNull();
  });
});

describe('per-device rate limit (GCRA, fake clock)', () => {
  it('lets a burst through, then spaces messages out, and drops only a flood', () => {
    const rl = new RateLimiter({ ratePerS: 10, burst: 3, maxDelayMs: 500 });
    const t = 1_000_000;
    expect([rl.take('d', t), rl.take('d', t), rl.take('d', t)].every((d) => d.action === 'pass')).toBe(true);
    expect(rl.take('d', t)).toEqual({ action: 'delay', ms: 100 });
    expect(rl.take('d', t)).toEqual({ action: 'delay', ms: 200 });
    expect(rl.take('other', t).action).toBe('pass'); // per device
    for (let i = 0; i < 3; i++) rl.take('d', t);
    expect(rl.take('d', t)).toEqual({ action: 'drop' }); // would wait 600 ms > 500
    expect(rl.take('d', t + 10_000).action).toBe('pass'); // after a quiet spell
  });

  it('a device that publishes faster than its rate is slowed down by the broker, nothing lost', async () => {
    const { hub, c, client, close } = await soloHub({ ratePerDevice: 50, burstPerDevice: 10, maxDelayMs: 10_000 });
    try {
      const status = encode('status', {
        v: 1,
        state: 'online',
        firmware: 'f',
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        uptimeS: 1,
        clockSynced: true,
        at: Date.now(),
        outbox: { depth: 0, oldestAgeS: null, capacity: 1, lastSeq: 0 },
        counters: {},
        faults: [],
      });
      const t0 = Date.now();
      await Promise.all(Array.from({ length: 60 }, () => client.publishAsync(topic(c.hall, c.id, 'status'), status, { qos: 1 })));
      const took = Date.now() - t0;
      // 10 at once, then 50 more at 50/s: about a second.
      expect(took).toBeGreaterThan(800);
      expect(await metric(hub, 'hcp_broker_throttled_total')).toBeGreaterThanOrEqual(45);
      expect(await metric(hub, 'hcp_broker_denied_total', 'action="publish",reason="rate-limited"')).toBe(0);
      await client.endAsync();
    } finally {
      await close();
    }
  });
});

describe("throttling keeps a device's order", () => {
  it('a device draining 400 records through the rate limit, with the event loop stalling (slow fsyncs): stored in sequence, no gap ever seen', async () => {
    // 50 a second: slower than the hub stores one device's records even on a loaded CI machine, so
    // the throttle holds back nearly all of them (at 100 a second a slow run throttled fewer than 300).
    const { hub, c, client, close } = await soloHub({ ratePerDevice: 50, burstPerDevice: 10 });
    const stall = setInterval(() => {
      const until = Date.now() + 40;
      while (Date.now() < until); // the whole process stops, as during a slow fsync
    }, 60);
    try {
      await client.subscribeAsync(topic(c.hall, c.id, 'ack'), { qos: 1 });
      const chain = makeChain(c.keys, 400, { hall: c.hall, device: c.id });
      // Like the device link: up to 64 unacknowledged, more as acks come.
      let next = 0;
      let acked = 0;
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (next < chain.length && next - acked < 64)
            client.publish(topic(c.hall, c.id, 'rating'), JSON.stringify(chain[next++]), { qos: 1 });
        };
        client.on('message', (_t, p) => {
          const a = decode('ack', p);
          if (!a.ok) return;
          acked += a.value.acks.length;
          if (acked >= chain.length) resolve();
          else pump();
        });
        pump();
      });
      const seqs = hub.db
        .prepare<[], { seq: number }>('SELECT seq FROM ratings ORDER BY rowid')
        .all()
        .map((r) => r.seq);
      expect(seqs).toEqual(chain.map((r) => r.seq));
      expect(await metric(hub, 'hcp_ingest_gaps_total')).toBe(0);
      expect(await metric(hub, 'hcp_broker_throttled_total')).toBeGreaterThan(300);
      await client.endAsync();
    } finally {
      clearInterval(stall);
      await close();
    }
  }, 60_000);
});

describe('the hub never crashes on input', () => {
  it("500 random and hostile payloads on a device's own topics: all refused, the hub still serves", async () => {
    const { hub, hubUrl, c, client, close } = await soloHub();
    try {
      let seed = 42;
      const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const hostile = [
        'null',
        '[]',
        '"x"',
        '{"v":1}',
        '{"v":2}',
        '{"__proto__":{"polluted":1},"v":1}',
        '{"v":1,"id":"' + 'a'.repeat(7000) + '"}',
        JSON.stringify({ v: 1, seq: -1, level: 99 }),
        '\u0000\uffff',
        '{"v":1,"reasons":' + '['.repeat(3000) + ']'.repeat(3000) + '}',
      ];
      const payloads: Buffer[] = [];
      for (let i = 0; i < 500; i++) {
        if (i < hostile.length) payloads.push(Buffer.from(hostile[i]!));
        else payloads.push(Buffer.from(Array.from({ length: Math.floor(rnd() * 2000) }, () => Math.floor(rnd() * 256))));
      }
      for (const [i, p] of payloads.entries()) await client.publishAsync(topic(c.hall, c.id, i % 2 ? 'rating' : 'status'), p, { qos: 1 });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((await fetch(`${hubUrl}/api/health`)).ok).toBe(true);
      // Ratings are checked on the verification workers: each refusal is counted when its check answers.
      const refused = async () =>
        (
          await Promise.all(
            ['malformed', 'invalid', 'unknown-version', 'oversized'].map((r) => metric(hub, 'hcp_ingest_rejected_total', `reason="${r}"`)),
          )
        ).reduce((a, b) => a + b, 0);
      await expect.poll(refused, { timeout: 10_000 }).toBe(250);
      expect(client.connected).toBe(true);
      await client.endAsync();
    } finally {
      await close();
    }
  });
});
