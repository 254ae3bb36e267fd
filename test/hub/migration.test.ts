import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, openHubDb } from '../../hub/store/db.js';

describe('a hub database from before key epochs', () => {
  it('is migrated with every rating, gap and forward-queue reference kept, and foreign keys back on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-mig-'));
    try {
      const path = join(dir, 'hub.db');
      const old = new Database(path);
      old.exec(MIGRATIONS[0]!);
      old.pragma('user_version = 1');
      old.prepare("INSERT INTO devices (id, hall, window, created_at, chain_seq) VALUES ('ev-001', 'h', '1', 0, 3)").run();
      for (const seq of [1, 3]) {
        old.prepare("INSERT INTO ratings (id, device, seq, hall, window, kind, level, reasons, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, 'ev-001', ?, 'h', '1', 'rating', 5, '[]', '[]', 0, 1, 0, 'x', '{}')").run(`r${seq}`, seq);
        old.prepare("INSERT INTO forward_queue (id, kind, record_id, payload, enqueued_at) VALUES (?, 'rating', ?, '{}', 0)").run(`r${seq}`, `r${seq}`);
      }
      old.prepare("INSERT INTO gaps (device, from_seq, to_seq, detected_at) VALUES ('ev-001', 2, 2, 0)").run();
      old.close();

      const db = openHubDb(path);
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.prepare('SELECT id, epoch, seq FROM ratings ORDER BY seq').all()).toEqual([
        { id: 'r1', epoch: 1, seq: 1 },
        { id: 'r3', epoch: 1, seq: 3 },
      ]);
      expect(db.prepare('SELECT count(*) AS n FROM forward_queue f JOIN ratings r ON r.id = f.record_id').get()).toEqual({ n: 2 });
      expect(db.prepare('SELECT device, epoch, from_seq, to_seq FROM gaps').all()).toEqual([{ device: 'ev-001', epoch: 1, from_seq: 2, to_seq: 2 }]);
      expect(db.prepare('SELECT key_epoch FROM devices').get()).toEqual({ key_epoch: 1 });
      // A new epoch may reuse seq 1; the same epoch may not.
      db.prepare("UPDATE devices SET key_epoch = 2 WHERE id = 'ev-001'").run();
      const ins = db.prepare("INSERT INTO ratings (id, device, epoch, seq, hall, window, kind, level, reasons, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, 'ev-001', ?, 1, 'h', '1', 'rating', 5, '[]', '[]', 0, 1, 0, 'x', '{}')");
      ins.run('n1', 2);
      expect(() => ins.run('n2', 1)).toThrow(/UNIQUE/);
      // Foreign keys are enforced again.
      expect(() => db.prepare("INSERT INTO forward_queue (id, kind, record_id, payload, enqueued_at) VALUES ('x', 'rating', 'nope', '{}', 0)").run()).toThrow(/FOREIGN KEY/);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
