/**
 * File modes on the hub and the device: data directories 0700, databases (with their -wal and
 * -shm) and key files 0600 — when they are made, and when they already existed wider.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateKeys, KEY_FILE } from '../../device/identity/keys.js';
import { Outbox } from '../../device/outbox/outbox.js';
import { startHub } from '../../hub/hub.js';
import { HUB_KEY_FILE } from '../../hub/ledger/hub-key.js';
import { openHubDb } from '../../hub/store/db.js';
import { silentLog } from '../helpers/log.js';

const mode = (p: string) => statSync(p).mode & 0o777;
let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('file modes', () => {
  it("a hub's first start makes its data directory 0700 and its database, -wal, -shm, tokens and keys 0600", async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-modes-'));
    const data = join(dir, 'hub');
    const hub = await startHub(
      { dataDir: data, hall: 'h1', mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
      silentLog(),
    );
    try {
      expect(mode(data)).toBe(0o700);
      for (const f of ['hub.db', 'hub.db-wal', 'hub.db-shm', 'admin.token', HUB_KEY_FILE]) {
        expect(existsSync(join(data, f)), f).toBe(true);
        expect([f, mode(join(data, f))]).toEqual([f, 0o600]);
      }
    } finally {
      await hub.close();
    }
  });

  it('a data directory that cannot be made private stops the hub with one line naming it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-modes-'));
    writeFileSync(join(dir, 'not-a-dir'), '');
    const data = join(dir, 'not-a-dir', 'hub');
    await expect(
      startHub({ dataDir: data, hall: 'h1', mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } }, silentLog()),
    ).rejects.toThrow(
      // Checked before anything starts (hub/preflight.ts): one line, naming the directory.
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringMatching(new RegExp(`^data directory ${data}: .*not a directory$`)),
      }),
    );
  });

  it('a hub database and directory left world-readable (0644, 0755) are tightened when opened', () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-modes-'));
    const data = join(dir, 'hub');
    mkdirSync(data, { mode: 0o755 });
    chmodSync(data, 0o755);
    const db1 = openHubDb(join(data, 'hub.db'));
    db1.close();
    for (const f of ['hub.db', 'hub.db-wal', 'hub.db-shm']) {
      closeSync(openSync(join(data, f), 'a'));
      chmodSync(join(data, f), 0o644);
    }
    const db = openHubDb(join(data, 'hub.db'));
    for (const f of ['hub.db', 'hub.db-wal', 'hub.db-shm']) expect([f, mode(join(data, f))]).toEqual([f, 0o600]);
    db.close();
  });

  it("a device's data directory is 0700, its key 0600 and its outbox database with -wal and -shm 0600, also when they were wider", () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-modes-'));
    const data = join(dir, 'device');
    mkdirSync(data, { mode: 0o755 });
    chmodSync(data, 0o755);
    loadOrCreateKeys(data);
    expect(mode(data)).toBe(0o700);
    expect(mode(join(data, KEY_FILE))).toBe(0o600);
    chmodSync(join(data, KEY_FILE), 0o644);
    chmodSync(data, 0o755);
    loadOrCreateKeys(data); // the next start
    expect(mode(data)).toBe(0o700);
    expect(mode(join(data, KEY_FILE))).toBe(0o600);

    const o = new Outbox(join(data, 'outbox.db'));
    for (const f of ['outbox.db', 'outbox.db-wal', 'outbox.db-shm']) expect([f, mode(join(data, f))]).toEqual([f, 0o600]);
    o.close();
    chmodSync(join(data, 'outbox.db'), 0o644);
    const again = new Outbox(join(data, 'outbox.db'));
    expect(mode(join(data, 'outbox.db'))).toBe(0o600);
    again.close();
  });
});
