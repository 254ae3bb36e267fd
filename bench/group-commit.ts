/**
 * The group commit's cost per record on the hub's ingest thread, through the real hub (started in
 * this process: ingest with its verification workers, attribution, the session book and the flag
 * decision, the province queue row and its payload), beside a bare group commit in the same run:
 * the same signed records, in the same order and batch size, inserted into a table with the
 * ratings' two keys (the record id, and device + seq) in one FULL-sync WAL transaction per batch,
 * SQLite's defaults otherwise. Records arrive as a hall's backlog does: one per device in turn,
 * so each commit writes at each device's place in the id indexes.
 *
 *   npm run bench:commit                                     # = tsc && node dist/bench/group-commit.js (400 devices × 250)
 *   node dist/bench/group-commit.js --devices 100 --records 100
 *   node dist/bench/group-commit.js --wal-checkpoint 1000              # the hub with SQLite's default checkpoint interval
 *
 * The hub side is read from its own `hcp_ingest_commit_seconds` histogram (statements and
 * commit, fsync and any WAL checkpoint included), the bare side timed around its transaction,
 * over the first nine tenths of the records. "WAL pages / record" is how many pages the commits
 * of the last tenth wrote to the write-ahead log (the hub's: all its writes meanwhile).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pino from 'pino';
import { startHub } from '../hub/hub.js';
import { exportPublicKey, generateDeviceKeys, GENESIS_HASH, recordHash, topic, type RatingRecord } from '../protocol/index.js';
import { freePort } from '../simulator/processes.js';
import { BENCH_LEVELS, walkUpRating } from './walk-up-record.js';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '400' },
    records: { type: 'string', default: '250' },
    /** The hub's WAL checkpoint interval in pages for this run (default: the hub's own, store/db.ts; SQLite's is 1000). */
    'wal-checkpoint': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const DEVICES = Number(args.devices);
const PER = Number(args.records);
const HALL = 'bench-hall';
const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-commit-'));

/** WAL pages a record costs on `db` while `write` writes `records` of them (checkpoints off meanwhile, from an empty log). */
async function walPagesPerRecord(db: Database.Database, records: number, write: () => unknown): Promise<number> {
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('wal_autocheckpoint = 0');
  await write();
  return (db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log / records;
}

async function main(): Promise<void> {
  const hub = await startHub(
    {
      dataDir: join(dir, 'hub'),
      hall: HALL,
      mqtt: { host: '127.0.0.1', port: await freePort() },
      http: { host: '127.0.0.1', port: await freePort() },
    },
    pino({ level: 'silent' }),
  );
  const maxBatch = hub.config.ingest.maxBatch;
  if (args['wal-checkpoint'] !== undefined) hub.db.pragma(`wal_autocheckpoint = ${Math.trunc(Number(args['wal-checkpoint']))}`);
  const checkpointPages = hub.db.pragma('wal_autocheckpoint', { simple: true }) as number;
  // Walk-up ratings over the past day, every level: what a hall's outboxes hold.
  const t0 = Date.now() - 86_400_000;
  const chains: { device: string; topic: string; record: RatingRecord; payload: Buffer }[][] = [];
  for (let d = 0; d < DEVICES; d++) {
    const device = `ev-${String(d + 1).padStart(3, '0')}`;
    const keys = generateDeviceKeys();
    const { token } = hub.registry.add({ id: device, window: device.slice(3), settings: { mode: 'walk-up' } });
    await hub.registry.enrol(token, exportPublicKey(keys.publicKey));
    let prev = GENESIS_HASH;
    const chain = [];
    for (let seq = 1; seq <= PER; seq++) {
      // A citizen a minute per window over the past day; ids ordered per device, as each outbox made them.
      const record = walkUpRating(
        { hall: HALL, device, seq, prev, level: BENCH_LEVELS[(seq + d) % BENCH_LEVELS.length]!, at: t0 + seq * 60_000, mono: seq * 60_000 },
        keys.privateKey,
      );
      prev = recordHash(record);
      chain.push({ device, topic: topic(HALL, device, 'rating'), record, payload: Buffer.from(JSON.stringify(record)) });
    }
    chains.push(chain);
  }
  const order = Array.from({ length: PER }, (_, s) => chains.map((c) => c[s]!)).flat();

  // The hub: messages in as the broker hands them over, a few batches waiting at a time. Timed over
  // the first nine tenths with the hub's own checkpoint interval; then, with checkpoints off, the
  // WAL frames the last tenth writes (pages a record costs grow with the indexes).
  const submitRun = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const m = order[i]!;
      hub.ingest.submit(m.device, m.topic, m.payload);
      if (hub.ingest.waiting > 3 * maxBatch) while (hub.ingest.waiting > maxBatch) await new Promise((r) => setTimeout(r, 1));
    }
    while (hub.ingest.waiting > 0) await new Promise((r) => setTimeout(r, 2));
  };
  const timedEnd = order.length - Math.floor(order.length / 10);
  const before = await commitTotals(hub);
  const hubStart = performance.now();
  await submitRun(0, timedEnd);
  const hubWall = (performance.now() - hubStart) / 1000;
  const after = await commitTotals(hub);
  const hubPagesPerRecord = await walPagesPerRecord(hub.db, order.length - timedEnd, () => submitRun(timedEnd, order.length));
  const stored = hub.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ratings').get()!.n;
  await hub.close();
  if (stored !== order.length) throw new Error(`the hub stored ${stored} of ${order.length} records`);
  const hubRecords = timedEnd;

  // The bare group commit: same records, same order, same batches, the ratings' two keys.
  const bare = new Database(join(dir, 'bare.db'));
  bare.pragma('journal_mode = WAL');
  bare.pragma('synchronous = FULL');
  bare.exec(
    'CREATE TABLE ratings (id TEXT PRIMARY KEY, device TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, UNIQUE (device, seq))',
  );
  const insert = bare.prepare('INSERT INTO ratings (id, device, seq, body) VALUES (?, ?, ?, ?)');
  const batchOf = (from: number, to: number) =>
    bare.transaction(() => {
      for (let i = from; i < to; i++)
        insert.run(order[i]!.record.id, order[i]!.device, order[i]!.record.seq, order[i]!.payload.toString('utf8'));
    });
  let bareMs = 0;
  let bareCommits = 0;
  for (let i = 0; i < timedEnd; i += maxBatch) {
    const t = performance.now();
    batchOf(i, Math.min(i + maxBatch, timedEnd))();
    bareMs += performance.now() - t;
    bareCommits++;
  }
  const barePagesPerRecord = await walPagesPerRecord(bare, order.length - timedEnd, () => {
    for (let i = timedEnd; i < order.length; i += maxBatch) batchOf(i, Math.min(i + maxBatch, order.length))();
  });
  bare.close();

  const hubUs = ((after.sum - before.sum) * 1e6) / hubRecords;
  const bareUs = (bareMs * 1000) / hubRecords;
  const result = {
    devices: DEVICES,
    recordsPerDevice: PER,
    maxBatch,
    checkpointPages,
    measuredRecords: hubRecords,
    hub: {
      commitUsPerRecord: +hubUs.toFixed(1),
      commits: after.count - before.count,
      recordsPerCommit: Math.round(hubRecords / (after.count - before.count)),
      walPagesPerRecord: +hubPagesPerRecord.toFixed(2),
      recordsPerS: Math.round(hubRecords / hubWall),
    },
    bare: {
      commitUsPerRecord: +bareUs.toFixed(1),
      commits: bareCommits,
      recordsPerCommit: Math.round(hubRecords / bareCommits),
      walPagesPerRecord: +barePagesPerRecord.toFixed(2),
    },
    hubOverBare: +(hubUs / bareUs).toFixed(2),
  };
  if (!args.json) {
    console.log(
      `group commit, ${DEVICES} devices × ${PER} records (one per device in turn), batches of ${maxBatch}, hub checkpoint every ${checkpointPages} pages; node ${process.version}; timed over the first ${hubRecords.toLocaleString('en')}, WAL pages over the rest`,
    );
    console.log('| side | µs / record in commits | commits | records / commit | WAL pages / record |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(
      `| hub (ingest thread) | ${result.hub.commitUsPerRecord} | ${result.hub.commits} | ${result.hub.recordsPerCommit} | ${result.hub.walPagesPerRecord} |`,
    );
    console.log(
      `| bare insert, two keys | ${result.bare.commitUsPerRecord} | ${result.bare.commits} | ${result.bare.recordsPerCommit} | ${result.bare.walPagesPerRecord} |`,
    );
    console.log(`hub / bare: ${result.hubOverBare}×`);
  }
  console.log(JSON.stringify(result));
}

async function commitTotals(hub: Awaited<ReturnType<typeof startHub>>): Promise<{ sum: number; count: number }> {
  const values = (await hub.metrics.commitSeconds.get()).values;
  return {
    sum: values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0,
    count: values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0,
  };
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
