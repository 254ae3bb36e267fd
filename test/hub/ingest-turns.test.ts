/**
 * Ingest's group commit and the event loop (hub/ingest/ingest.ts): a real SQLite file, the real
 * registry, a real socket. However many checked records wait, one batch commits per turn of the
 * event loop, so the broker's sockets (a device's CONNECT, acks, keep-alives) are served between
 * two commits instead of after all of them.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
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
let server: Server | null = null;
let client: Socket | null = null;
afterEach(async () => {
  client?.destroy();
  await new Promise((r) => (server ? server.close(r) : r(null)));
  await ingest?.close();
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  [dir, db, ingest, server, client] = ['', null, null, null, null];
});

const stored = (d: Db) => d.prepare<[], { n: number }>('SELECT count(*) AS n FROM ratings').get()!.n;

it('commits one batch per turn of the event loop: a connection is accepted between two commits of a backlog, and every record is stored and acked once', async () => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-turns-'));
  db = openHubDb(join(dir, 'hub.db'));
  const registry = new Registry(db, 'hall-1');
  const metrics = createMetrics();
  const acks: Ack[] = [];
  ingest = new Ingest({
    db,
    registry,
    log: silentLog(),
    metrics,
    alarms: new Alarms(db, silentLog(), metrics, new EventEmitter()),
    publishAck: (_h, _d, a) => acks.push(a),
    verifyWorkers: 0,
    maxBatch: 100,
  });
  const chains: RatingRecord[][] = [];
  for (const id of ['ev-001', 'ev-002', 'ev-003', 'ev-004']) {
    const keys = generateDeviceKeys();
    const { token } = registry.add({ id, window: id.slice(3), settings: { mode: 'walk-up' } });
    await registry.enrol(token, exportPublicKey(keys.publicKey));
    chains.push(makeChain(keys, 90, { device: id, window: id.slice(3), staffId: null, session: null, level: 4, reasons: [] }));
  }
  let atConnection = -1;
  server = createServer((s) => {
    atConnection = stored(db!);
    s.destroy();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;

  // 360 records arrive in one turn (checked on this thread); a device connects meanwhile.
  for (let i = 0; i < 90; i++)
    for (const c of chains) ingest.submit(c[i]!.device, topic('hall-1', c[i]!.device, 'rating'), Buffer.from(JSON.stringify(c[i])));
  client = connect(port, '127.0.0.1').on('error', () => {});
  const end = Date.now() + 100;
  while (Date.now() < end); // the kernel completes the handshake; the hub has not looked yet

  for (let t = 0; t < 200 && (stored(db) < 360 || atConnection < 0); t++) await new Promise((r) => setTimeout(r, 10));
  // Before: all four commits ran inside the submissions, and the connection waited for them.
  expect(atConnection).toBeGreaterThanOrEqual(0);
  expect(atConnection).toBeLessThanOrEqual(200);
  expect(stored(db)).toBe(360);
  const batches = (await metrics.batchSize.get()).values;
  expect(batches.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(4);
  // Each commit's time on the ingest thread is in hcp_ingest_commit_seconds (hall IT sees a slow disk there).
  const commits = (await metrics.commitSeconds.get()).values;
  expect(commits.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(4);
  expect(commits.find((v) => v.metricName?.endsWith('_sum'))?.value).toBeGreaterThan(0);
  const acked = acks.flatMap((a) => a.acks.map((x) => x.id));
  expect(acked).toHaveLength(360);
  expect(new Set(acked).size).toBe(360);
  for (const c of chains)
    expect(
      db
        .prepare<[string], { seq: number }>('SELECT seq FROM ratings WHERE device = ? ORDER BY rowid')
        .all(c[0]!.device)
        .map((r) => r.seq),
    ).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
});
