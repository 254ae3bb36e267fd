/**
 * The ledger's rules without sockets: a real SQLite file filled through the real registry and
 * ingest, signatures by real device keys, checkpoints on a fake clock, exports checked offline.
 */
import { generateKeyPairSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dayNumber } from '../../hub/calendar/working-days.js';
import { Ingest } from '../../hub/ingest/ingest.js';
import { Alarms } from '../../hub/alarms/alarms.js';
import { Checkpoints } from '../../hub/ledger/checkpoints.js';
import { forwardCheckpoint, Ledger } from '../../hub/ledger/ledger.js';
import { mapMessage } from '../../hub/forwarder/messages.js';
import { loadProfile } from '../../hub/forwarder/profile.js';
import { checkpointSignatureOk, merkleLeaf, merkleRoot } from '../../hub/ledger/digest.js';
import { exportDay, verifyExport } from '../../hub/ledger/export.js';
import { loadOrCreateHubKey } from '../../hub/ledger/hub-key.js';
import { verifyLedger } from '../../hub/ledger/verify.js';
import { createMetrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { AuditLog } from '../../hub/users/audit.js';
import { exportPublicKey, GENESIS_HASH, recordHash, signRecord, topic, type RatingRecord } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';
import { generateDeviceKeys, makeChain } from '../helpers/records.js';

const DAY = 86_400_000;
/** Noon, China time, of a fixed day. */
const T0 = Date.UTC(2026, 10, 20, 4, 0, 0);

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

async function hallWithRatings() {
  dir = mkdtempSync(join(tmpdir(), 'hcp-ledger-'));
  const db = openHubDb(join(dir, 'hub.db'));
  let now = T0;
  const clock = () => now;
  const registry = new Registry(db, 'hall-1', clock);
  const ingest = new Ingest({ db, registry, log: silentLog(), metrics: createMetrics(), publishAck: () => {}, now: clock });
  const send = (records: ReturnType<typeof makeChain>) => {
    for (const r of records) ingest.submit(r.device, topic('hall-1', r.device, 'rating'), Buffer.from(JSON.stringify(r)));
    ingest.flush();
  };
  // ev-001 in its first key epoch, then re-enrolled with a new key (a replaced SD card): epoch 2.
  const k1 = generateDeviceKeys();
  const { token } = registry.add({ window: '01', id: 'ev-001' });
  await registry.enrol(token, exportPublicKey(k1.publicKey));
  send(makeChain(k1, 3, { hall: 'hall-1', device: 'ev-001', window: '01', session: null }));
  const k2 = generateDeviceKeys();
  await registry.enrol(registry.reenrol('ev-001').token, exportPublicKey(k2.publicKey));
  send(makeChain(k2, 2, { hall: 'hall-1', device: 'ev-001', window: '01', session: null, level: 5, reasons: [] }));
  const key = loadOrCreateHubKey(dir);
  const made: string[] = [];
  const forward = forwardCheckpoint(db);
  const checkpoints = new Checkpoints(db, 'hall-1', key, (m, at) => {
    made.push(m.day);
    forward(m, at);
  });
  return { db, registry, ingest, send, key, checkpoints, made, k1, k2, setNow: (t: number) => (now = t) };
}

const keys = (db: Db) => db.prepare('SELECT device, epoch FROM device_keys ORDER BY epoch').all();

describe('hub verify: rules', () => {
  it('records of an earlier key epoch are still verified against the key they were signed with', async () => {
    const h = await hallWithRatings();
    expect(keys(h.db)).toEqual([
      { device: 'ev-001', epoch: 1 },
      { device: 'ev-001', epoch: 2 },
    ]);
    const r = await verifyLedger(h.db);
    expect(r.checked.ratings).toBe(5);
    expect(r.findings).toEqual([]);
    // A record body re-signed with the current key does not pass for epoch 1.
    const row = h.db.prepare<[], { id: string; body: string }>('SELECT id, body FROM ratings WHERE epoch = 1 AND seq = 2').get()!;
    const { sig: _sig, ...unsigned } = JSON.parse(row.body) as RatingRecord;
    const resigned = signRecord(unsigned, h.k2.privateKey);
    h.db.prepare('UPDATE ratings SET body = ?, hash = ? WHERE id = ?').run(JSON.stringify(resigned), recordHash(resigned), row.id);
    const after = await verifyLedger(h.db);
    expect(after.findings).toContainEqual(
      expect.objectContaining({
        table: 'ratings',
        key: `${row.id} (ev-001/1 seq 2)`,
        problem: expect.stringContaining("does not carry the device's signature"),
      }),
    );
    h.db.close();
  });

  it('a gap ingest recorded is not a deletion; the same hole without its gap row is', async () => {
    const h = await hallWithRatings();
    const k3 = generateDeviceKeys();
    const { token } = h.registry.add({ window: '03', id: 'ev-003' });
    await h.registry.enrol(token, exportPublicKey(k3.publicKey));
    const chain = makeChain(k3, 4, { hall: 'hall-1', device: 'ev-003', window: '03', session: null });
    h.send([chain[0]!, chain[3]!]); // 2–3 lost on the way: ingest records the gap
    expect((await verifyLedger(h.db)).findings).toEqual([]);
    h.db.exec("DELETE FROM gaps WHERE device = 'ev-003'");
    expect((await verifyLedger(h.db)).findings).toEqual([
      expect.objectContaining({
        table: 'ratings',
        key: 'ev-003/1 seq 2–3',
        problem: expect.stringContaining('deleted after they were stored'),
      }),
    ]);
    h.db.close();
  });

  it("deleting the newest rating is found through the device's chain head", async () => {
    const h = await hallWithRatings();
    // As the sqlite3 shell does it: foreign keys are off there by default.
    h.db.pragma('foreign_keys = OFF');
    h.db.exec("DELETE FROM ratings WHERE device = 'ev-001' AND epoch = 2 AND seq = 2");
    expect((await verifyLedger(h.db)).findings).toEqual([
      expect.objectContaining({
        table: 'ratings',
        key: 'ev-001/2 seq 2',
        problem: expect.stringContaining("chain head's record is not stored"),
      }),
    ]);
    h.db.close();
  });

  it('an audit-log entry edited with its append-only trigger dropped is named by its row number', async () => {
    const h = await hallWithRatings();
    const audit = new AuditLog(h.db);
    for (const a of ['login', 'add-user', 'logout']) audit.record('admin', a);
    h.db.exec("DROP TRIGGER audit_log_append_only_u; UPDATE audit_log SET actor = 'nobody' WHERE n = 2");
    const r = await verifyLedger(h.db);
    expect(r.findings).toEqual([
      expect.objectContaining({ table: 'audit_log', key: 'n=2', problem: 'content does not match its hash (edited)' }),
    ]);
    h.db.exec('DROP TRIGGER audit_log_append_only_d; DELETE FROM audit_log WHERE n = 2');
    expect((await verifyLedger(h.db)).findings).toEqual([
      expect.objectContaining({ table: 'audit_log', key: 'n=3', problem: expect.stringContaining('rows 2–2 deleted?') }),
    ]);
    h.db.close();
  });
});

describe('signed daily checkpoints', () => {
  it('a day is signed only after it ended, once, in order, and handed on for the province in the same transaction', async () => {
    const h = await hallWithRatings();
    expect(h.checkpoints.makeDue(T0 + 3_600_000)).toEqual([]); // the day is still running
    const day = dayNumber(T0);
    const made = h.checkpoints.makeDue(T0 + DAY);
    expect(made.map((c) => c.day)).toEqual([day]);
    expect(h.made).toEqual(['2026-11-20']);
    expect(h.checkpoints.makeDue(T0 + DAY + 1000)).toEqual([]);
    const body = JSON.parse(made[0]!.body);
    expect(body).toMatchObject({
      hall: 'hall-1',
      day: '2026-11-20',
      records: 5,
      levels: { '2': 3, '5': 2 },
      other: 0,
      prevCheckpoint: GENESIS_HASH,
    });
    expect(body.devices).toEqual([
      expect.objectContaining({ device: 'ev-001', epoch: 1, count: 3, firstSeq: 1, lastSeq: 3 }),
      expect.objectContaining({ device: 'ev-001', epoch: 2, count: 2, firstSeq: 1, lastSeq: 2 }),
    ]);
    // Two quiet days later: both are signed, each naming the one before.
    const more = h.checkpoints.makeDue(T0 + 3 * DAY);
    expect(more.map((c) => c.day)).toEqual([day + 1, day + 2]);
    expect(JSON.parse(more[0]!.body).records).toBe(0);
    expect(JSON.parse(more[1]!.body).prevCheckpoint).not.toBe(GENESIS_HASH);
    h.db.close();
  });

  it('a checkpoint deleted from the database breaks the chain of the next one', async () => {
    const h = await hallWithRatings();
    h.checkpoints.makeDue(T0 + 3 * DAY);
    h.db.exec('DROP TRIGGER ledger_checkpoints_append_only_d; DELETE FROM ledger_checkpoints WHERE day = ' + (dayNumber(T0) + 1));
    const r = await verifyLedger(h.db, { hubKey: h.key.publicKey });
    expect(r.findings).toContainEqual(
      expect.objectContaining({
        table: 'ledger_checkpoints',
        key: '2026-11-22'.replace(/^/, 'day '),
        problem: expect.stringContaining('2026-11-21–2026-11-21 are missing'),
      }),
    );
    expect(r.findings).toContainEqual(expect.objectContaining({ table: 'ledger_checkpoints', key: 'day 2026-11-22 prevCheckpoint' }));
    h.db.close();
  });

  it("an export verifies without the database; it fails with another hub's key, a record left out, or a checkpoint made up", async () => {
    const h = await hallWithRatings();
    h.checkpoints.makeDue(T0 + DAY);
    const x = exportDay(h.db, dayNumber(T0), h.key.publicKeyB64);
    h.db.close();
    expect(verifyExport(x, h.key.publicKey)).toMatchObject({ ok: true, keyPinned: true, records: 5 });
    // Order in the file does not matter.
    expect(verifyExport({ ...x, records: [...x.records].reverse() }, h.key.publicKey).ok).toBe(true);

    const other = generateKeyPairSync('ed25519');
    expect(verifyExport(x, other.publicKey).findings).toContainEqual(
      expect.objectContaining({ table: 'checkpoint', problem: expect.stringContaining("not signed by the hub's key") }),
    );

    const fewer = verifyExport({ ...x, records: x.records.slice(1) }, h.key.publicKey);
    expect(fewer.findings.map((f) => f.key)).toEqual(expect.arrayContaining(['2026-11-20 records', '2026-11-20 merkleRoot']));

    // A checkpoint recomputed to fit edited records is not signed by the hub.
    const body = JSON.parse(x.checkpoint.body);
    body.levels['5'] += 1;
    expect(verifyExport({ ...x, checkpoint: { ...x.checkpoint, body: JSON.stringify(body) } }, h.key.publicKey).ok).toBe(false);
  });

  it('the daily run is due at 00:30 China time: the next one after any moment, never one already past', async () => {
    const h = await hallWithRatings();
    const ledger = new Ledger({
      db: h.db,
      dbPath: join(dir, 'hub.db'),
      dataDir: dir,
      hall: 'hall-1',
      alarms: new Alarms(h.db, silentLog(), createMetrics(), new EventEmitter()),
      metrics: createMetrics(),
      log: silentLog(),
      now: () => T0,
    });
    const at = (iso: string) => Date.parse(iso);
    expect(ledger.nextRunAt(at('2026-11-20T23:00:00+08:00'))).toBe(at('2026-11-21T00:30:00+08:00'));
    expect(ledger.nextRunAt(at('2026-11-21T00:10:00+08:00'))).toBe(at('2026-11-21T00:30:00+08:00'));
    expect(ledger.nextRunAt(at('2026-11-21T00:30:00+08:00'))).toBe(at('2026-11-22T00:30:00+08:00'));
    // Made by the constructor: the hub's own key, beside the database, 0600.
    expect(statSync(join(dir, 'ledger-key.pem')).mode & 0o777).toBe(0o600);
    h.db.close();
  });

  it("with the common profile a checkpoint goes out under the province's field names, the signed text untouched", async () => {
    const h = await hallWithRatings();
    h.checkpoints.makeDue(T0 + DAY);
    const row = h.db
      .prepare<[], { payload: string }>(
        "SELECT p.payload FROM forward_queue AS q JOIN forward_payload AS p ON p.n = q.rowid WHERE kind = 'checkpoint'",
      )
      .get()!;
    h.db.close();
    const [item] = mapMessage(loadProfile('common'), 'checkpoint', JSON.parse(row.payload), { areaCode: '420100', deptCode: 'D1' });
    expect(item!.body).toMatchObject({
      hallCode: 'hall-1',
      areaCode: '420100',
      statDate: '2026-11-20',
      evalCount: 5,
      signature: expect.any(String),
      publicKey: h.key.publicKeyB64,
    });
    expect(checkpointSignatureOk({ body: item!.body.digest as string, sig: item!.body.signature as string }, h.key.publicKey)).toBe(true);
  });

  it('the Merkle root depends on every id and hash, and on nothing else', () => {
    const leaves = ['a', 'b', 'c'].map((id) => merkleLeaf(id, recordHash({ id } as never)));
    const root = merkleRoot(leaves);
    expect(merkleRoot(leaves)).toBe(root);
    expect(merkleRoot([leaves[0]!, leaves[1]!])).not.toBe(root);
    expect(merkleRoot([leaves[0]!, leaves[1]!, merkleLeaf('c', 'f'.repeat(64))])).not.toBe(root);
    expect(merkleRoot([])).toBe(GENESIS_HASH);
  });
});
