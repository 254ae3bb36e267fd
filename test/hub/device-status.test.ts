/**
 * Device status writes (hub/status/device-status.ts) share one transaction every 200 ms instead
 * of an fsync each; what waits is already what the hub answers with. Real SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from '../../hub/registry/registry.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { encode, topic, type Status } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

const status = (state: Status['state'], firmware: string): Buffer =>
  encode('status', {
    v: 1,
    state,
    firmware,
    bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
    uptimeS: 60,
    clockSynced: true,
    at: Date.now(),
    outbox: { depth: 3, oldestAgeS: 5, capacity: 100_000, lastSeq: 9 },
    counters: {},
    faults: [],
  });

const stored = (db: Db) =>
  db
    .prepare<[], { device: string; state: string; last_seen: number }>('SELECT device, state, last_seen FROM device_status ORDER BY device')
    .all();

describe('device status', () => {
  it('is answered from memory at once and written for many devices in one transaction; flush writes what waits (the hub calls it before closing the database)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-status-'));
    const db = openHubDb(join(dir, 'hub.db'));
    const registry = new Registry(db, 'hall-1');
    for (const id of ['ev-001', 'ev-002', 'ev-003']) registry.add({ id, window: id.slice(3) });
    const seen: string[] = [];
    const store = new DeviceStatusStore(db, silentLog(), (d) => seen.push(d));
    for (const id of ['ev-001', 'ev-002', 'ev-003'])
      expect(store.submit(id, topic('hall-1', id, 'status'), status('online', `fw/${id}`))).toBe(true);
    // The live view and the status event do not wait for the write.
    expect(seen).toEqual(['ev-001', 'ev-002', 'ev-003']);
    expect(store.health('ev-002')).toMatchObject({ reportedState: 'online', firmware: 'fw/ev-002', backlog: { depth: 3 } });
    expect(store.get('ev-003')?.status.firmware).toBe('fw/ev-003');
    expect(stored(db)).toEqual([]);
    // Within the write delay, all three in one transaction.
    await new Promise((r) => setTimeout(r, 400));
    expect(stored(db).map((r) => [r.device, r.state])).toEqual([
      ['ev-001', 'online'],
      ['ev-002', 'online'],
      ['ev-003', 'online'],
    ]);
    // A later status replaces what waits; flush writes it now.
    expect(store.submit('ev-001', topic('hall-1', 'ev-001', 'status'), status('offline', 'fw/ev-001'))).toBe(true);
    store.flush();
    expect(stored(db)[0]).toMatchObject({ device: 'ev-001', state: 'offline' });
    // Another device's topic, or garbage: refused, nothing written.
    expect(store.submit('ev-002', topic('hall-1', 'ev-001', 'status'), status('online', 'x'))).toBe(false);
    expect(store.submit('ev-001', topic('hall-1', 'ev-001', 'status'), Buffer.from('{'))).toBe(false);
    store.flush();
    expect(stored(db)[0]).toMatchObject({ device: 'ev-001', state: 'offline' });
    db.close();
  });
});
