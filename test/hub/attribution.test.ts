import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Attributor, type AttributionAlarm } from '../../hub/ingest/attribution.js';
import { Registry } from '../../hub/registry/registry.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { newRecordId, type UnsignedRecord } from '../../protocol/index.js';
import { generateDeviceKeys, makeRecord } from '../helpers/records.js';

const keys = generateDeviceKeys();
let dir: string;
let db: Db;
let device: string;
let other: string;
let reg: Registry;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-attr-'));
  db = openHubDb(join(dir, 'hub.db'));
  reg = new Registry(db, 'hall-1');
  device = reg.add({ window: '9a', settings: { staff: { id: 'S9A', name: '李明', number: null, photo: null } } }).device.id;
  other = reg.add({ window: '01' }).device.id;
  const open = db.prepare(
    "INSERT INTO sessions (id, device, window, cases, item_code, item_name, staff_id, state, opened_at, deadline_at) VALUES (?, ?, ?, ?, 'X1', '户籍迁移', ?, 'open', 0, 1)",
  );
  open.run('Q-1', device, '9a', JSON.stringify(['BJ1']), 'S007');
  open.run('Q-OTHER', other, '01', JSON.stringify(['BJ9']), 'victim');
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const rec = (over: Partial<UnsignedRecord>) =>
  makeRecord(keys, { hall: 'hall-1', device, window: '9a', staffId: null, session: null, ...over });

describe("attribution comes from the hub's session and registration", () => {
  it('an honest sessionless record gets the staff on duty and no flag; a claim of nobody is not a disagreement', () => {
    const alarms: AttributionAlarm[] = [];
    const a = new Attributor(db).attribute(rec({ staffId: 'S9A' }), alarms);
    expect(a).toMatchObject({ window: '9a', staffId: 'S9A', session: null, flags: [], mismatches: [] });
    expect(new Attributor(db).attribute(rec({ staffId: null }), alarms)).toMatchObject({ staffId: 'S9A', flags: [] });
    expect(alarms).toEqual([]);
  });

  it("another window and staff member claimed: the hub's window and staff on duty, flagged and alarmed", () => {
    const alarms: AttributionAlarm[] = [];
    const a = new Attributor(db).attribute(rec({ window: '01', staffId: 'victim' }), alarms);
    expect(a).toMatchObject({ window: '9a', staffId: 'S9A', flags: ['attribution-mismatch'] });
    expect(a.mismatches.map((m) => m.field)).toEqual(['window', 'staffId']);
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ kind: 'attribution-mismatch', device });
  });

  it('every mismatching record is flagged, but a device raises at most one mismatch alarm a minute', () => {
    const at = new Attributor(db);
    const alarms: AttributionAlarm[] = [];
    // Presses a minute apart on the device's clock: only the attribution is under test.
    for (let i = 0; i < 50; i++)
      expect(at.attribute(rec({ window: '01', id: newRecordId(), mono: i * 60_000 }), alarms, 1_000 + i).flags).toEqual([
        'attribution-mismatch',
      ]);
    expect(alarms).toHaveLength(1);
    at.attribute(rec({ window: '01', id: newRecordId(), mono: 50 * 60_000 }), alarms, 61_000);
    expect(alarms.map((a) => a.kind)).toEqual(['attribution-mismatch', 'attribution-mismatch']);
  });

  it('a session the hub opened for this device gives its cases, item and staff, whatever the record says of them', () => {
    const alarms: AttributionAlarm[] = [];
    const a = new Attributor(db).attribute(
      rec({ staffId: 'S007', session: { id: 'Q-1', cases: ['FAKE'], itemCode: 'X1', itemName: '户籍迁移' } }),
      alarms,
    );
    expect(a).toMatchObject({
      window: '9a',
      staffId: 'S007',
      session: { id: 'Q-1', cases: ['BJ1'], itemCode: 'X1', itemName: '户籍迁移' },
      flags: ['attribution-mismatch'],
    });
    expect(a.mismatches.map((m) => m.field)).toEqual(['session']);
    const honest = new Attributor(db).attribute(
      rec({ staffId: 'S007', session: { id: 'Q-1', cases: ['BJ1'], itemCode: 'X1', itemName: '户籍迁移' } }),
      alarms,
    );
    expect(honest.flags).toEqual([]);
  });

  it('a session opened for another device is no session of this one', () => {
    const a = new Attributor(db).attribute(
      rec({ staffId: 'victim', session: { id: 'Q-OTHER', cases: ['BJ9'], itemCode: 'X1', itemName: '户籍迁移' } }),
      [],
    );
    expect(a).toMatchObject({ window: '9a', staffId: 'S9A', session: null, flags: ['attribution-mismatch'] });
  });
});

describe("the per-device rate cap (10 ratings per 60 s of the device's press clock)", () => {
  const boot = '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b';
  const press = (mono: number, over: Partial<UnsignedRecord> = {}) =>
    rec({ staffId: 'S9A', bootId: boot, mono, id: newRecordId(), ...over });

  it('flags the 11th rating within a minute and everything after it while the burst lasts, with one alarm', () => {
    const at = new Attributor(db);
    const alarms: AttributionAlarm[] = [];
    const flags = Array.from({ length: 14 }, (_, i) => at.attribute(press(i * 100), alarms).flags);
    expect(flags.map((f) => f.includes('rate-exceeded'))).toEqual([...Array(10).fill(false), true, true, true, true]);
    expect(alarms.map((a) => a.kind)).toEqual(['rate-exceeded']);
  });

  it("never flags a citizen's pace (one every 7 s), a new boot starts afresh, and a resent record is not counted twice", () => {
    const at = new Attributor(db);
    const alarms: AttributionAlarm[] = [];
    for (let i = 0; i < 50; i++) expect(at.attribute(press(i * 7000), alarms).flags).toEqual([]);
    const r = press(400_000);
    for (let i = 0; i < 20; i++) expect(at.attribute(r, alarms).flags).toEqual([]);
    for (let i = 0; i < 10; i++) at.attribute(press(i, { bootId: '1b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b' }), alarms);
    expect(at.attribute(press(5, { bootId: '2b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b' }), alarms).flags).toEqual([]);
    expect(alarms).toEqual([]);
  });

  it("counts only ratings: not-rated reports are the device's timeouts, not presses", () => {
    const at = new Attributor(db);
    for (let i = 0; i < 30; i++) expect(at.attribute(press(i, { kind: 'not-rated', level: null, reasons: [] }), []).flags).toEqual([]);
  });
});

describe('a backlog pressed offline is attributed to the registration of its press time', () => {
  const S9B = { id: 'S9B', name: '王芳', number: null, photo: null };

  it('presses made before the staff change and the move to another window keep the old window and staff; later ones get the new; the claims match, so nothing is flagged', async () => {
    const pressedBefore = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    reg.updateSettings(device, { staff: S9B }, '9b');
    const pressedAfter = Date.now() + 1;
    const at = new Attributor(db);
    const alarms: AttributionAlarm[] = [];
    const arrived = pressedAfter + 3_600_000; // delivered an hour later, after the device came back
    const early = at.attribute(rec({ at: pressedBefore, clockSynced: true, staffId: 'S9A' }), alarms, arrived);
    expect(early).toMatchObject({ window: '9a', staffId: 'S9A', flags: [] });
    const late = at.attribute(
      rec({ id: newRecordId(), at: pressedAfter, clockSynced: true, window: '9b', staffId: 'S9B' }),
      alarms,
      arrived,
    );
    expect(late).toMatchObject({ window: '9b', staffId: 'S9B', flags: [] });
    expect(alarms).toEqual([]);
  });

  it('an unsynced clock is not believed: the registration when the record arrived', async () => {
    const pressed = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    reg.updateSettings(device, { staff: S9B });
    const a = new Attributor(db).attribute(rec({ at: pressed, clockSynced: false, staffId: null }), [], Date.now() + 10);
    expect(a).toMatchObject({ window: '9a', staffId: 'S9B' });
  });

  it('a press time after the record arrived is not believed either: it counts as pressed on arrival', async () => {
    const arrived = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    reg.updateSettings(device, { staff: S9B });
    // Claims a time after the change, but it arrived before it: the staff on duty then.
    const a = new Attributor(db).attribute(rec({ at: Date.now() + 60_000, clockSynced: true, staffId: 'S9B' }), [], arrived);
    expect(a).toMatchObject({ staffId: 'S9A', flags: ['attribution-mismatch'] });
  });

  it('every change of window or staff is one history row, closed when the next begins; other setting changes add none', () => {
    reg.updateSettings(device, { staff: S9B });
    reg.updateSettings(device, { prompts: { thanks: '谢谢' } });
    reg.updateSettings(device, {}, '9c');
    const rows = db
      .prepare('SELECT window, staff_id, to_ms IS NULL AS open FROM device_assignments WHERE device = ? ORDER BY rowid')
      .all(device);
    expect(rows).toEqual([
      { window: '9a', staff_id: 'S9A', open: 0 },
      { window: '9a', staff_id: 'S9B', open: 0 },
      { window: '9c', staff_id: 'S9B', open: 1 },
    ]);
  });
});
