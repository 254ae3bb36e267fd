/**
 * The backlog bench's after-the-run checks can fail: out-of-order storage, a missing or extra
 * record, a record stored that the device never had delivered, and an undelivered outbox row are
 * each found. Outboxes are real (device/outbox); the hub side is a database with the columns the
 * check reads (test/bench/backlog.test.ts runs the check on a real hub's database).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkHubDb, checkOutbox, type OutboxCheck } from '../../bench/backlog-checks.js';
import { Outbox } from '../../device/outbox/outbox.js';
import { newRecordId, signRecord, type RatingRecord } from '../../protocol/index.js';
import { generateDeviceKeys } from '../helpers/records.js';

const keys = generateDeviceKeys();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-backlog-checks-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A device's outbox with `n` records, the first `delivered` of them acknowledged. */
function outbox(device: string, n: number, delivered = n): { check: OutboxCheck; records: RatingRecord[] } {
  const path = join(dir, `${device}.db`);
  const o = new Outbox(path, { retainDelivered: n });
  const records = o.appendInOneTransaction(() =>
    Array.from({ length: n }, () =>
      o.append(({ seq, prev }) =>
        signRecord(
          {
            v: 1,
            id: newRecordId(),
            hall: 'h',
            device,
            window: '1',
            staffId: null,
            seq,
            kind: 'rating',
            level: 5,
            reasons: [],
            catalogue: 'c',
            session: null,
            at: 1,
            clockSynced: true,
            bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
            mono: seq,
            flags: [],
            prev,
          },
          keys.privateKey,
        ),
      ),
    ),
  );
  o.markAcked(records.slice(0, delivered).map((r) => ({ seq: r.seq, id: r.id })));
  o.close();
  return { check: checkOutbox(device, path), records };
}

/** A hub database holding these records, inserted (rowid order) as given. */
function hubDb(stored: RatingRecord[]): string {
  const path = join(dir, 'hub.db');
  const db = new Database(path);
  db.exec(`CREATE TABLE ratings (id TEXT PRIMARY KEY, device TEXT NOT NULL, seq INTEGER NOT NULL);
    CREATE TABLE gaps (device TEXT, from_seq INTEGER);
    CREATE TABLE rejections (reason TEXT)`);
  const insert = db.prepare('INSERT INTO ratings (id, device, seq) VALUES (?, ?, ?)');
  for (const r of stored) insert.run(r.id, r.device, r.seq);
  db.close();
  return path;
}

describe('the backlog bench checks', () => {
  it('pass when the hub stored every delivered record once, each device in seq order', () => {
    const a = outbox('ev-a', 3);
    const b = outbox('ev-b', 3);
    // Devices interleave at the hub; each device's own records keep their order.
    const path = hubDb([a.records[0]!, b.records[0]!, a.records[1]!, b.records[1]!, b.records[2]!, a.records[2]!]);
    const r = checkHubDb(path, [a.check, b.check], 3);
    expect(r.failures).toEqual([]);
    expect(r.figures).toMatchObject({ stored: 6, distinctIds: 6, devicesOutOfOrder: 0, devicesNotMatchingOutbox: 0 });
  });

  it('find a device whose records were stored out of seq order', () => {
    const a = outbox('ev-a', 3);
    const r = checkHubDb(hubDb([a.records[1]!, a.records[0]!, a.records[2]!]), [a.check], 3);
    expect(r.figures.devicesOutOfOrder).toBe(1);
    expect(r.failures).toContain('1 devices not stored as seq 1..3 in order');
  });

  it('find a record missing at the hub', () => {
    const a = outbox('ev-a', 3);
    const r = checkHubDb(hubDb([a.records[0]!, a.records[2]!]), [a.check], 3);
    expect(r.figures).toMatchObject({ stored: 2, devicesOutOfOrder: 1, devicesNotMatchingOutbox: 1 });
    expect(r.failures).toHaveLength(3);
  });

  it('find a record stored that its outbox does not mark delivered', () => {
    const a = outbox('ev-a', 3, 2);
    expect(a.check).toMatchObject({ rows: 3, contiguous: true, delivered: 2, pending: 1, refused: 0 });
    const r = checkHubDb(hubDb(a.records), [a.check], 3);
    expect(r.figures.devicesNotMatchingOutbox).toBe(1);
  });

  it('find a device the hub stored nothing of, and gap or refusal rows', () => {
    const a = outbox('ev-a', 2);
    const b = outbox('ev-b', 2);
    const path = hubDb(a.records);
    const db = new Database(path);
    db.exec("INSERT INTO gaps VALUES ('ev-a', 1); INSERT INTO rejections VALUES ('duplicate'), ('bad-signature')");
    db.close();
    const r = checkHubDb(path, [a.check, b.check], 2);
    expect(r.figures).toMatchObject({ stored: 2, devicesNotMatchingOutbox: 1, gaps: 1, rejections: 1 });
  });
});
