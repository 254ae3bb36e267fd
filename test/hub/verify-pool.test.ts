/**
 * Ingest with its signature checks on worker threads (hub/ingest/verify-pool.ts): a real
 * SQLite file, the real registry, real workers from the compiled dist/ (`npm run build`).
 * Checks finish out of order across workers; what reaches the store must not.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Alarms } from '../../hub/alarms/alarms.js';
import { Ingest } from '../../hub/ingest/ingest.js';
import { createMetrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { exportPublicKey, topic, type Ack, type RatingRecord } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';
import { generateDeviceKeys, makeChain } from '../helpers/records.js';

let dir = '';
let db: Db | null = null;
let ingest: Ingest | null = null;
afterEach(async () => {
  await ingest?.close();
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  [dir, db, ingest] = ['', null, null];
});

const PER_DEVICE = 60;

async function hall(workers: number) {
  dir = mkdtempSync(join(tmpdir(), 'hcp-vpool-'));
  db = openHubDb(join(dir, 'hub.db'));
  const registry = new Registry(db, 'hall-1');
  const acks: Ack[] = [];
  const metrics = createMetrics();
  const alarms = new Alarms(db, silentLog(), metrics, new EventEmitter());
  ingest = new Ingest({ db, registry, log: silentLog(), metrics, alarms, publishAck: (_h, _d, a) => acks.push(a), verifyWorkers: workers });
  const chains: RatingRecord[][] = [];
  for (const id of ['ev-001', 'ev-002', 'ev-003']) {
    const keys = generateDeviceKeys();
    const { token } = registry.add({ id, window: id.slice(3), settings: { mode: 'walk-up' } });
    await registry.enrol(token, exportPublicKey(keys.publicKey));
    chains.push(makeChain(keys, PER_DEVICE, { device: id, window: id.slice(3), staffId: null, session: null, level: 5, reasons: [] }));
  }
  // ev-004 is enrolled, but what arrives on its topic is signed with some other key.
  const { token } = registry.add({ id: 'ev-004', window: '004' });
  await registry.enrol(token, exportPublicKey(generateDeviceKeys().publicKey));
  const forged = makeChain(generateDeviceKeys(), 5, { device: 'ev-004', window: '004', staffId: null, session: null });
  const send = (r: RatingRecord) => ingest!.submit(r.device, topic('hall-1', r.device, 'rating'), Buffer.from(JSON.stringify(r)));
  return { db, acks, chains, forged, send, ingest: ingest! };
}

async function until(what: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stored = (db: Db) => db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ratings').get()!.n;
const seqsInStoreOrder = (db: Db, device: string) =>
  db
    .prepare<[string], { seq: number }>('SELECT seq FROM ratings WHERE device = ? ORDER BY rowid')
    .all(device)
    .map((r) => r.seq);
const rejections = (db: Db) =>
  Object.fromEntries(
    db
      .prepare<[], { reason: string; n: number }>('SELECT reason, count(*) AS n FROM rejections GROUP BY reason')
      .all()
      .map((r) => [r.reason, r.n]),
  );
const ackedIds = (acks: Ack[]) => acks.flatMap((a) => a.acks.map((x) => x.id));

describe('signature checks on worker threads', () => {
  it("store every device's records in the order they arrived, however the workers finish; forged and malformed ones are refused", async () => {
    const h = await hall(2);
    expect(h.ingest.verifyWorkers).toBe(2);
    // Interleaved as many devices' messages arrive; garbage and forgeries in between.
    for (let i = 0; i < PER_DEVICE; i++) {
      for (const c of h.chains) h.send(c[i]!);
      if (i % 12 === 0) h.send(h.forged[i / 12]!);
      if (i === 30) h.ingest.submit('ev-001', topic('hall-1', 'ev-001', 'rating'), Buffer.from('{"v":1,"id":'));
      // Some arrive in later turns of the event loop, as from sockets.
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => stored(h.db) === 3 * PER_DEVICE && (rejections(h.db)['bad-signature'] ?? 0) === 5);
    await new Promise((r) => setTimeout(r, 100));
    const inOrder = Array.from({ length: PER_DEVICE }, (_, i) => i + 1);
    for (const d of ['ev-001', 'ev-002', 'ev-003']) expect(seqsInStoreOrder(h.db, d)).toEqual(inOrder);
    expect(h.db.prepare('SELECT * FROM gaps').all()).toEqual([]);
    expect(rejections(h.db)).toEqual({ 'bad-signature': 5, malformed: 1 });
    // Each stored record acknowledged exactly once; the forger is told its records are refused.
    const acked = ackedIds(h.acks);
    expect(acked.length).toBe(3 * PER_DEVICE);
    expect(new Set(acked).size).toBe(3 * PER_DEVICE);
    expect(h.acks.flatMap((a) => a.rejects).filter((r) => r.reason === 'bad-signature')).toHaveLength(5);
  });

  it('a worker that dies mid-stream is replaced and its unanswered records are checked again: none lost, none stored twice, order kept', async () => {
    const h = await hall(2);
    const half = PER_DEVICE / 2;
    for (let i = 0; i < half; i++) for (const c of h.chains) h.send(c[i]!);
    // The batch is on its way to the workers (sent in the next turn), not yet answered.
    await new Promise((r) => setImmediate(r));
    await h.ingest.crashVerifyWorker();
    for (let i = half; i < PER_DEVICE; i++) for (const c of h.chains) h.send(c[i]!);
    await until(() => stored(h.db) === 3 * PER_DEVICE);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.ingest.verifyWorkerRestarts).toBe(1);
    expect(h.ingest.verifyWorkers).toBe(2);
    expect(stored(h.db)).toBe(3 * PER_DEVICE);
    for (const d of ['ev-001', 'ev-002', 'ev-003'])
      expect(seqsInStoreOrder(h.db, d)).toEqual(Array.from({ length: PER_DEVICE }, (_, i) => i + 1));
    expect(rejections(h.db)).toEqual({});
    expect(new Set(ackedIds(h.acks)).size).toBe(ackedIds(h.acks).length);
  });

  it('closing while records are being checked acknowledges only what was committed; the rest is left for the devices to resend', async () => {
    const h = await hall(2);
    for (let i = 0; i < PER_DEVICE; i++) for (const c of h.chains) h.send(c[i]!);
    await new Promise((r) => setTimeout(r, 5));
    await h.ingest.close();
    ingest = null;
    const n = stored(h.db);
    await new Promise((r) => setTimeout(r, 200)); // late answers from the workers change nothing
    expect(stored(h.db)).toBe(n);
    const ids = new Set(
      h.db
        .prepare<[], { id: string }>('SELECT id FROM ratings')
        .all()
        .map((r) => r.id),
    );
    const acked = ackedIds(h.acks);
    expect(acked.length).toBe(n);
    for (const id of acked) expect(ids.has(id)).toBe(true);
  });
});
