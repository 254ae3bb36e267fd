import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dayNumber } from '../../hub/calendar/working-days.js';
import { Facts } from '../../hub/stats/facts.js';
import { StatsQueries } from '../../hub/stats/queries.js';
import { MIGRATIONS, openHubDb } from '../../hub/store/db.js';
import { USERS_MIGRATION } from '../../hub/users/audit.js';

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
        old
          .prepare(
            "INSERT INTO ratings (id, device, seq, hall, window, kind, level, reasons, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, 'ev-001', ?, 'h', '1', 'rating', 5, '[]', '[]', 0, 1, 0, 'x', '{}')",
          )
          .run(`r${seq}`, seq);
        old
          .prepare("INSERT INTO forward_queue (id, kind, record_id, payload, enqueued_at) VALUES (?, 'rating', ?, '{}', 0)")
          .run(`r${seq}`, `r${seq}`);
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
      expect(db.prepare('SELECT device, epoch, from_seq, to_seq FROM gaps').all()).toEqual([
        { device: 'ev-001', epoch: 1, from_seq: 2, to_seq: 2 },
      ]);
      expect(db.prepare('SELECT key_epoch FROM devices').get()).toEqual({ key_epoch: 1 });
      // A new epoch may reuse seq 1; the same epoch may not.
      db.prepare("UPDATE devices SET key_epoch = 2 WHERE id = 'ev-001'").run();
      const ins = db.prepare(
        "INSERT INTO ratings (id, device, epoch, seq, hall, window, kind, level, reasons, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, 'ev-001', ?, 1, 'h', '1', 'rating', 5, '[]', '[]', 0, 1, 0, 'x', '{}')",
      );
      ins.run('n1', 2);
      expect(() => ins.run('n2', 1)).toThrow(/UNIQUE/);
      // Foreign keys are enforced again.
      expect(() =>
        db.prepare("INSERT INTO forward_queue (id, kind, record_id, enqueued_at) VALUES ('x', 'rating', 'nope', 0)").run(),
      ).toThrow(/FOREIGN KEY/);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a hall hub database from before the hall web page', () => {
  it("gains the page's tables after every earlier migration, and its statistics catch up on what was kept: every key epoch, defaults as their own channel, a superseded default once", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-mig-'));
    try {
      const path = join(dir, 'hub.db');
      const before = MIGRATIONS.indexOf(USERS_MIGRATION);
      expect(before).toBeGreaterThan(1); // the page's migrations come after the hub's and the forwarder's
      const old = new Database(path);
      for (let v = 0; v < before; v++) old.exec(MIGRATIONS[v]!);
      old.pragma(`user_version = ${before}`);
      const at = Date.parse('2026-03-02T10:00:00+08:00');
      old.prepare("INSERT INTO devices (id, hall, window, created_at, key_epoch) VALUES ('ev-001', 'h', '12', 0, 2)").run();
      const session = { id: 's1', cases: ['BJ-1'], itemCode: 'X1', itemName: '不动产登记' };
      const rating = (id: string, epoch: number, seq: number, level: number, sess: typeof session | null) => {
        const body = {
          v: 1,
          id,
          hall: 'h',
          device: 'ev-001',
          window: '12',
          staffId: 'S1',
          seq,
          kind: 'rating',
          level,
          reasons: level <= 2 ? ['213'] : [],
          catalogue: 'builtin',
          session: sess,
          at,
          clockSynced: true,
          flags: [],
        };
        old
          .prepare(
            "INSERT INTO ratings (id, device, epoch, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, 'ev-001', ?, ?, 'h', '12', 'S1', 'rating', ?, '[]', ?, '[]', ?, 1, ?, 'x', ?)",
          )
          .run(id, epoch, seq, level, sess?.id ?? null, at, at, JSON.stringify(body));
      };
      const evaluation = (id: string, kind: string, level: number, supersedes: string | null) => ({
        id,
        kind,
        hall: 'h',
        device: 'ev-001',
        window: '12',
        staffId: 'S1',
        level,
        reasons: [],
        text: null,
        session,
        assessedAt: at + 86_400_000,
        clockSynced: true,
        assessNumber: supersedes ? 2 : 1,
        flags: [],
        supersedes,
        record: null,
      });
      const enqueue = (id: string, kind: string, recordId: string | null, payload: object) =>
        old
          .prepare('INSERT INTO forward_queue (id, kind, record_id, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)')
          .run(id, kind, recordId, JSON.stringify(payload), at);
      rating('r1', 1, 1, 5, null); // before a re-enrolment with a new key
      rating('r2', 2, 1, 1, null); // the new key's chain starts again at seq 1
      enqueue('d1', 'default', null, evaluation('d1', 'default', 3, null));
      enqueue('d2', 'default', null, { ...evaluation('d2', 'default', 3, null), session: { ...session, id: 's2' } });
      rating('r3', 2, 2, 2, session); // late, after its default d1 was made
      enqueue('r3', 'correction', 'r3', evaluation('r3', 'correction', 2, 'd1'));
      rating('r4', 2, 3, 4, session); // a second rating for the same service: stored, not counted
      old
        .prepare(
          "INSERT INTO sessions (id, device, window, cases, state, opened_at, deadline_at, rating_id, default_id, counted_id, counted_kind, counted_level) VALUES ('s1', 'ev-001', '12', '[\"BJ-1\"]', 'corrected', ?, ?, 'r3', 'd1', 'r3', 'correction', 2)",
        )
        .run(at, at + 86_400_000);
      old.close();

      const db = openHubDb(path);
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const facts = new Facts(db);
      const opened: string[] = [];
      facts.catchUp((f) => opened.push(f.id));
      const day = dayNumber(at);
      const byChannel = Object.fromEntries(new StatsQueries(db).byDim('channel', day, day + 1).map((r) => [r.key, r.counts]));
      expect(byChannel.device).toMatchObject({ total: 3, n5: 1, n2: 1, n1: 1, n4: 0 });
      expect(byChannel.default).toMatchObject({ total: 1, n3: 1 });
      expect(db.prepare("SELECT id, excluded FROM rating_facts WHERE channel = 'default' ORDER BY id").all()).toEqual([
        { id: 'd1', excluded: 'superseded' },
        { id: 'd2', excluded: null },
      ]);
      expect(opened.sort()).toEqual(['d1', 'd2', 'r1', 'r2', 'r3']);
      expect(facts.checkRollups()).toEqual([]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
