/**
 * The hub database's write-ahead log (hub/store/db.ts): checkpointed every WAL_CHECKPOINT_PAGES
 * pages instead of SQLite's default 1,000, so a backlog's group commits (~1–4 MB each) do not
 * each copy themselves into the database on the ingest thread; and still bounded — checkpointed
 * once past that, and the file cut back to WAL_SIZE_LIMIT_BYTES after one huge transaction.
 * A real SQLite file, its -wal file measured on disk.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openHubDb, WAL_CHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES, type Db } from '../../hub/store/db.js';

let dir = '';
let db: Db | null = null;
afterEach(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  [dir, db] = ['', null];
});

const MB = 1024 * 1024;

/** A hub database with a table to fill with incompressible rows. */
function fillerDb() {
  dir = mkdtempSync(join(tmpdir(), 'hcp-wal-'));
  const path = join(dir, 'hub.db');
  db = openHubDb(path);
  db.exec('CREATE TABLE filler (n INTEGER PRIMARY KEY, b BLOB NOT NULL)');
  return { path, db, insert: db.prepare('INSERT INTO filler (b) VALUES (?)') };
}

it('lets the WAL grow past SQLite’s 1,000 pages between checkpoints, and checkpoints it once past the interval', () => {
  const { path, db: d, insert } = fillerDb();
  const interval = WAL_CHECKPOINT_PAGES * 4096;
  const sizes: number[] = [];
  // Commits of ~1 MB, like a backlog's group commits, up to 1.5 checkpoint intervals.
  for (let c = 0; c < Math.ceil((1.5 * interval) / MB); c++) {
    d.transaction(() => {
      for (let i = 0; i < 256; i++) insert.run(randomBytes(3500));
    })();
    sizes.push(statSync(`${path}-wal`).size);
  }
  // With the default, the WAL was checkpointed and reused after every ~4 MB: it never got past ~5 MB.
  expect(sizes[7]!).toBeGreaterThan(8 * MB);
  // Bounded: checkpointed once past the interval (then reused from its start), never much beyond it.
  expect(Math.max(...sizes)).toBeLessThanOrEqual(interval + 2 * MB);
  expect(d.prepare<[], { n: number }>('SELECT count(*) AS n FROM filler').get()!.n).toBe(sizes.length * 256);
});

it('cuts the WAL file back to the limit after one transaction larger than it', () => {
  const { path, db: d, insert } = fillerDb();
  const big = WAL_SIZE_LIMIT_BYTES + 8 * MB;
  d.transaction(() => {
    for (let i = 0; i < big / 3500; i++) insert.run(randomBytes(3500));
  })();
  expect(statSync(`${path}-wal`).size).toBeGreaterThan(WAL_SIZE_LIMIT_BYTES);
  // The commit checkpointed it; the next write starts the log again and truncates the file.
  d.prepare('INSERT INTO filler (b) VALUES (?)').run(Buffer.from('x'));
  expect(statSync(`${path}-wal`).size).toBeLessThanOrEqual(WAL_SIZE_LIMIT_BYTES);
  // Nothing was lost on the way.
  d.close();
  db = openHubDb(path);
  expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM filler').get()!.n).toBe(Math.ceil(big / 3500) + 1);
});
