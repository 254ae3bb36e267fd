/**
 * The link's ack timeout (device/link/link.ts) against a slow hub: a real aedes broker that
 * acknowledges each record only some time after it arrived, as a hub does while it drains a
 * whole hall's backlog; a real outbox and the real Link over TCP. A fixed timeout shorter than
 * the hub's delay sent every record again (and the hub had to check each copy); the timeout now
 * doubles after a timeout and comes back down once acks are quick again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { afterEach, expect, it } from 'vitest';
import { Link } from '../../device/link/link.js';
import { Outbox } from '../../device/outbox/outbox.js';
import { decode, encode, generateDeviceKeys, newRecordId, signRecord, topic, type RatingRecord } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';
import { sleep, waitFor } from '../helpers/wait.js';

const HALL = 'hall-1';
const DEVICE = 'ev-001';

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

/** A broker that acks each record `delay()` ms after it arrived; it notes every copy it got. */
async function slowHub(delay: (seq: number) => number | null) {
  const aedes = await Aedes.createBroker({ concurrency: 0 });
  const copies: { seq: number; at: number }[] = [];
  aedes.on('publish', (packet, client) => {
    if (!client || packet.topic !== topic(HALL, DEVICE, 'rating')) return;
    const d = decode('rating', packet.payload as Buffer);
    if (!d.ok) return;
    const r = d.value;
    copies.push({ seq: r.seq, at: Date.now() });
    const ms = delay(r.seq);
    if (ms === null) return; // never acked (lost by the hub)
    setTimeout(() => {
      const ack = encode('ack', { v: 1, acks: [{ seq: r.seq, id: r.id }], rejects: [] });
      aedes.publish({ cmd: 'publish', topic: topic(HALL, DEVICE, 'ack'), payload: ack, qos: 1, retain: false, dup: false }, () => {});
    }, ms);
  });
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { copies, port, close: () => new Promise<void>((r) => aedes.close(() => server.close(() => r()))) };
}

async function device(port: number, ackTimeoutMs: number, maxInFlight: number) {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-link-timeout-'));
  const outbox = new Outbox(join(dir, 'outbox.db'));
  const keys = generateDeviceKeys();
  const bootId = '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b';
  const press = (): RatingRecord =>
    outbox.append(({ seq, prev }) =>
      signRecord(
        {
          v: 1,
          id: newRecordId(),
          hall: HALL,
          device: DEVICE,
          window: '01',
          staffId: null,
          seq,
          kind: 'rating',
          level: 5,
          reasons: [],
          catalogue: 'builtin-2026.1',
          session: null,
          at: Date.now(),
          clockSynced: true,
          bootId,
          mono: seq * 1000,
          flags: ['walk-up'],
          prev,
        },
        keys.privateKey,
      ),
    );
  const link = new Link({
    url: `mqtt://127.0.0.1:${port}`,
    hall: HALL,
    device: DEVICE,
    username: DEVICE,
    password: 'secret',
    outbox,
    log: silentLog(),
    status: () => ({
      firmware: 'test',
      bootId,
      uptimeS: 1,
      clockSynced: true,
      at: Date.now(),
      outbox: { depth: 0, oldestAgeS: null, capacity: 1, lastSeq: 0 },
      counters: {},
      faults: [],
    }),
    ackTimeoutMs,
    maxInFlight,
  });
  const undelivered = () => outbox.pendingWire(1_000, 0).length;
  return {
    outbox,
    link,
    press,
    undelivered,
    close: async () => {
      await link.stop();
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

it('a hub slower than the ack timeout gets each record about once: the timeout doubles after a timeout', async () => {
  // Acks come 1.5 s after each record arrives; the timeout starts at 0.5 s (checked every second).
  const hub = await slowHub(() => 1_500);
  const d = await device(hub.port, 500, 4);
  cleanup = async () => (await d.close(), await hub.close());
  for (let i = 0; i < 24; i++) d.press();
  d.link.start();
  await waitFor(() => d.undelivered() === 0, 'every record acknowledged', 30_000);
  const perSeq = new Map<number, number>();
  for (const c of hub.copies) perSeq.set(c.seq, (perSeq.get(c.seq) ?? 0) + 1);
  expect([...perSeq.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
  // With a fixed 0.5 s timeout every record went at least twice (48+); now only the windows sent
  // before the timeout had grown past the hub's delay go again (two timeouts of four in flight,
  // 32; a third on a slow machine, 36).
  expect(hub.copies.length).toBeLessThanOrEqual(24 + 3 * 4);
});

it('once acks are quick again the timeout comes back down: a record the hub lost is resent soon', async () => {
  let slow = true;
  const lost = new Set<number>();
  const hub = await slowHub((seq) => (lost.has(seq) ? null : slow ? 1_500 : 0));
  const d = await device(hub.port, 500, 4);
  cleanup = async () => (await d.close(), await hub.close());
  for (let i = 0; i < 8; i++) d.press();
  d.link.start();
  await waitFor(() => d.undelivered() === 0, 'the slow phase acknowledged', 30_000);
  // The hub is quick again: acks come at once, the timeout halves back to 0.5 s.
  slow = false;
  for (let i = 0; i < 12; i++) {
    d.press();
    d.link.pump();
    await sleep(20);
  }
  await waitFor(() => d.undelivered() === 0, 'the quick phase acknowledged', 10_000);
  // Now the hub loses one record's first copy (acks only a later one).
  const seq = d.press().seq;
  lost.add(seq);
  d.link.pump();
  const first = await waitFor(() => hub.copies.find((c) => c.seq === seq), 'its first copy', 5_000);
  lost.delete(seq);
  await waitFor(() => d.undelivered() === 0, 'the lost record resent and acknowledged', 10_000);
  const resent = hub.copies.filter((c) => c.seq === seq)[1]!;
  // Back at 0.5 s (checked every second) it comes within 1.5 s; with the timeout still at its grown
  // 2 s or more, after 2 s at the earliest.
  expect(resent.at - first.at).toBeLessThan(2_000);
});
