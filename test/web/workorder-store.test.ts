/**
 * Opening a 差评's work order in SQLite: what createFor returns is the stored order (it is built
 * from what was inserted, not read back), and its creation event keeps the trail's hash chain.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkingDayCalendar } from '../../hub/calendar/working-days.js';
import type { Fact } from '../../hub/stats/facts.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { PROFILES } from '../../hub/workorders/policy.js';
import { WorkOrders } from '../../hub/workorders/store.js';

const china = (s: string) => Date.parse(s + '+08:00');
const at = china('2026-11-24T10:00:00');

let dir: string | null = null;
let db: Db | null = null;
afterEach(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  db = dir = null;
});

function open(): { db: Db; orders: WorkOrders } {
  dir = mkdtempSync(join(tmpdir(), 'hcp-orders-'));
  db = openHubDb(join(dir, 'hub.db'));
  const policy = { profile: PROFILES.ankang, calendar: new WorkingDayCalendar() };
  return {
    db,
    orders: new WorkOrders(
      db,
      () => policy,
      () => at + 5_000,
    ),
  };
}

let n = 0;
const fact = (o: Partial<Fact> = {}): Fact => ({
  id: `01900000-0000-7000-8000-${String(++n).padStart(12, '0')}`,
  at: at - 60_000,
  window: '03',
  staffId: 'S-17',
  itemCode: 'X1',
  itemName: '社保卡补办',
  channel: 'device',
  level: 1,
  device: 'ev-003',
  receivedAt: at,
  reasons: ['101', '213'],
  cases: ['BJ-2026-0001', 'BJ-2026-0002'],
  ...o,
});

describe('a 差评 opens its work order', () => {
  it('returns exactly the order as stored, at version 1 with its creation event, and the trail still verifies', () => {
    const { db, orders } = open();
    const facts = [
      fact(),
      fact({ staffId: null, itemCode: null, itemName: null, device: null, reasons: [], cases: [], level: 2, channel: 'default' }),
      // SQLite stores text as UTF-8: a lone surrogate (which a device's JSON can carry) comes back replaced.
      fact({ window: 'w\ud800' }),
    ];
    const made = db.transaction(() => facts.map((f) => orders.createFor(f)))();
    for (const o of made) {
      expect(o).not.toBeNull();
      expect(o).toStrictEqual(orders.get(o!.id));
      expect(o).toMatchObject({ state: 'new', version: 1, updatedAt: at });
      expect(orders.trail(o!.id)).toMatchObject([{ version: 1, action: 'create', from: null, to: 'new', actor: 'system' }]);
    }
    expect(made[2]!.window).toBe(orders.get(made[2]!.id)!.window);
    expect(orders.verifyTrail()).toBeNull();
    // Once per rating, and only for a 差评.
    expect(db.transaction(() => orders.createFor(facts[0]!))()).toBeNull();
    expect(db.transaction(() => orders.createFor(fact({ level: 3 })))()).toBeNull();
    // The next step is accepted by the audit trigger (version 2 after the creation's 1).
    expect(orders.act(made[0]!.id, { type: 'confirm', class: 'general' }, { name: 'zhang', role: 'supervisor' }, 1)).toMatchObject({
      version: 2,
    });
    expect(orders.verifyTrail()).toBeNull();
  });

  it('leaves nothing behind when the transaction that opened it rolls back: the next order chains onto the last committed event', () => {
    const { db, orders } = open();
    const first = db.transaction(() => orders.createFor(fact()))()!;
    expect(() =>
      db.transaction(() => {
        orders.createFor(fact());
        throw new Error('chunk failed');
      })(),
    ).toThrow('chunk failed');
    const next = db.transaction(() => orders.createFor(fact()))()!;
    expect(next.id).toBe(first.id + 1);
    expect(orders.verifyTrail()).toBeNull();
  });
});
