/**
 * Benchmark: `hub verify` on a big database. Generates really signed, chained records for
 * many devices straight into SQLite as ingest stores them, lets the real catch-up make facts,
 * rollups and work orders, signs a checkpoint for every day, then times one full verification
 * (every signature, chain link, fact, rollup row, trail and checkpoint).
 *
 *   npm run bench:ledger                                 # 200k ratings, 100 devices, 60 days
 *   node dist/bench/ledger-verify.js --ratings 1500000 --devices 400 --days 365
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { HubEvents } from '../hub/events.js';
import { Checkpoints } from '../hub/ledger/checkpoints.js';
import { loadOrCreateHubKey } from '../hub/ledger/hub-key.js';
import { verifyLedger } from '../hub/ledger/verify.js';
import { createMetrics } from '../hub/metrics.js';
import { Registry } from '../hub/registry/registry.js';
import { DeviceStatusStore } from '../hub/status/device-status.js';
import { openHubDb } from '../hub/store/db.js';
import { HallWeb } from '../hub/web/hall-web.js';
import { FactSync } from '../hub/facts/fact-sync.js';
import {
  exportPublicKey,
  generateDeviceKeys,
  GENESIS_HASH,
  recordHash,
  signRecord,
  type DeviceKeys,
  type UnsignedRecord,
} from '../protocol/index.js';

const { values: args } = parseArgs({
  options: {
    ratings: { type: 'string', default: '200000' },
    devices: { type: 'string', default: '100' },
    days: { type: 'string', default: '60' },
  },
});
const N = Number(args.ratings);
const DEVICES = Number(args.devices);
const DAYS = Number(args.days);
const DAY = 86_400_000;
const END = Date.parse('2026-11-20T00:00:00+08:00');
const START = END - DAYS * DAY;

const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-ledger-'));
const log = pino({ level: 'warn' });
const db = openHubDb(join(dir, 'hub.db'));
db.pragma('synchronous = NORMAL'); // generation only
const clock = { t: START };
const now = () => clock.t;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const registry = new Registry(db, 'bench-hall', now);
const keys: DeviceKeys[] = [];
const heads: { seq: number; hash: string }[] = [];
for (let d = 0; d < DEVICES; d++) {
  const k = generateDeviceKeys();
  keys.push(k);
  heads.push({ seq: 0, hash: GENESIS_HASH });
  const id = `ev-${String(d + 1).padStart(3, '0')}`;
  registry.add({ window: String(d + 1), id });
  // As enrolment leaves it (without the scrypt cost of a real enrolment for every device).
  db.prepare('UPDATE devices SET public_key = ?, enrolled_at = ? WHERE id = ?').run(exportPublicKey(k.publicKey), START, id);
}
const insert =
  db.prepare(`INSERT INTO ratings (id, device, epoch, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body)
  VALUES (?, ?, 1, ?, 'bench-hall', ?, ?, 'rating', ?, ?, NULL, '[]', ?, 1, ?, ?, ?)`);
let t0 = process.hrtime.bigint();
for (let done = 0; done < N;) {
  db.transaction(() => {
    for (let i = 0; i < 20_000 && done < N; i++, done++) {
      const d = done % DEVICES;
      const dev = `ev-${String(d + 1).padStart(3, '0')}`;
      const at = START + Math.floor((done / N) * DAYS * DAY);
      const level = ([5, 5, 5, 4, 4, 3, 2, 1] as const)[done % 8]!;
      const h = heads[d]!;
      const u: UnsignedRecord = {
        v: 1,
        id: `0190${String(done).padStart(8, '0')}-0000-7000-8000-${String(d).padStart(12, '0')}`,
        hall: 'bench-hall',
        device: dev,
        window: String(d + 1),
        staffId: `S${d}`,
        seq: h.seq + 1,
        kind: 'rating',
        level,
        reasons: level <= 2 ? [`${level}07`] : [],
        catalogue: 'builtin-2026.1',
        session: null,
        at,
        clockSynced: true,
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        mono: done,
        flags: [],
        prev: h.hash,
      };
      const r = signRecord(u, keys[d]!.privateKey);
      const hash = recordHash(r);
      insert.run(r.id, dev, r.seq, r.window, r.staffId, level, JSON.stringify(r.reasons), at, at + 200, hash, JSON.stringify(r));
      heads[d] = { seq: r.seq, hash };
    }
  })();
}
db.transaction(() => {
  for (let d = 0; d < DEVICES; d++)
    db.prepare('UPDATE devices SET chain_seq = ?, chain_hash = ? WHERE id = ?').run(
      heads[d]!.seq,
      heads[d]!.hash,
      `ev-${String(d + 1).padStart(3, '0')}`,
    );
})();
const genMs = ms(t0);

clock.t = END;
const events = new EventEmitter<HubEvents>();
const metrics = createMetrics();
const web = HallWeb.open({
  db,
  registry,
  status: new DeviceStatusStore(db, log, () => {}, now),
  events,
  log,
  metrics,
  config: {},
  dataDir: dir,
  now,
});
const factSync = new FactSync({ records: web.records, events, log, metrics });
t0 = process.hrtime.bigint();
factSync.syncNow();
const factsMs = ms(t0);
t0 = process.hrtime.bigint();
const key = loadOrCreateHubKey(dir);
const made = new Checkpoints(db, 'bench-hall', key).makeDue(END + DAY, 0, 10_000).length;
const cpMs = ms(t0);

t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const report = await verifyLedger(db, { hubKey: key.publicKey });
const verifyMs = ms(t0);
// CPU time as well as wall time: on a shared machine the wall clock measures the neighbours.
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
const rss = process.memoryUsage().rss / 2 ** 20;
const c = report.checked;
console.log(
  `generated ${N} signed ratings of ${DEVICES} devices over ${DAYS} days in ${(genMs / 1000).toFixed(1)} s; facts/rollups/work orders ${(factsMs / 1000).toFixed(1)} s; ${made} checkpoints in ${(cpMs / 1000).toFixed(1)} s`,
);
console.log(
  `hub verify: ${c.ratings} ratings, ${c.facts} facts, ${c.rollupRows} rollup rows, ${c.workOrders} work orders, ${c.checkpoints} checkpoints in ${(verifyMs / 1000).toFixed(1)} s wall, ${cpuS.toFixed(1)} s CPU = ${Math.round(c.ratings / cpuS)} ratings per CPU-second; rss ${rss.toFixed(0)} MiB; ${report.ok ? 'all match' : `${report.findings.length} MISMATCHES`}`,
);
console.log(`phases (ms): ${JSON.stringify(report.phases)}`);
db.close();
rmSync(dir, { recursive: true, force: true });
process.exitCode = report.ok ? 0 : 1;
