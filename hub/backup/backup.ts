/**
 * `hub backup` and `hub restore`. A backup is one SQLite file: a consistent copy of hub.db made
 * with SQLite's online backup while the hub runs and ingests (one step, so the copy is one
 * snapshot: the hub's writers go on in WAL meanwhile), plus the small files of the data
 * directory (the admin token, the web password, keys) in a table of their own.
 *
 * A restore never destroys: what it replaces is moved aside. After it, the hub holds less than
 * the devices and the province have seen: devices resend what they still hold (the hub tells
 * each its chain head when it connects), the province deduplicates, and anything a device no
 * longer holds shows as a gap alarm — never silently.
 */
import { fsyncPath } from '../../common/fsync.js';
import Database from 'better-sqlite3';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';

export const HUB_DB = 'hub.db';
/** Files of the data directory a backup carries besides the database (small, secret: mode kept). */
const SIDE_FILE_MAX = 1 << 20;

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

export interface BackupSummary {
  file: string;
  bytes: number;
  ratings: number;
  devices: number;
  files: string[];
  at: number;
}

function isDbFile(name: string): boolean {
  return name === HUB_DB || name.startsWith(`${HUB_DB}-`) || name.startsWith(`${HUB_DB}.`);
}

export async function backupHub(dataDir: string, to: string, now = Date.now()): Promise<BackupSummary> {
  const dbPath = join(dataDir, HUB_DB);
  if (!existsSync(dbPath)) throw new BackupError(`no hub database at ${dbPath}`);
  const target = resolve(to);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const src = new Database(dbPath, { fileMustExist: true });
  try {
    src.pragma('busy_timeout = 5000');
    // All pages in one step: one read transaction, one snapshot, while the hub keeps writing.
    await src.backup(tmp, { progress: () => 1 << 30 });
  } finally {
    src.close();
  }
  const copy = new Database(tmp);
  const files: string[] = [];
  let ratings = 0;
  let devices = 0;
  try {
    copy.pragma('journal_mode = DELETE');
    copy.exec(`CREATE TABLE backup_files (name TEXT PRIMARY KEY, mode INTEGER NOT NULL, content BLOB NOT NULL);
      CREATE TABLE backup_info (id INTEGER PRIMARY KEY CHECK (id = 1), made_at INTEGER NOT NULL, source TEXT NOT NULL);`);
    const put = copy.prepare('INSERT INTO backup_files (name, mode, content) VALUES (?, ?, ?)');
    for (const name of readdirSync(dataDir)) {
      const p = join(dataDir, name);
      const st = statSync(p);
      if (!st.isFile() || isDbFile(name) || st.size > SIDE_FILE_MAX) continue;
      put.run(name, st.mode & 0o777, readFileSync(p));
      files.push(name);
    }
    copy.prepare('INSERT INTO backup_info (id, made_at, source) VALUES (1, ?, ?)').run(now, dbPath);
    ratings = (copy.prepare('SELECT count(*) AS n FROM ratings').get() as { n: number }).n;
    devices = (copy.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n;
  } finally {
    copy.close();
  }
  chmodSync(tmp, 0o600);
  fsyncPath(tmp);
  renameSync(tmp, target);
  fsyncPath(dirname(target));
  return { file: target, bytes: statSync(target).size, ratings, devices, files, at: now };
}

/** PIDs of processes (other than this one) holding `path` open: the hub must be stopped for a restore. */
export function processesHolding(path: string): number[] {
  const want = resolve(path);
  const pids: number[] = [];
  let procs: string[] = [];
  try {
    procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return pids;
  }
  for (const pid of procs) {
    if (Number(pid) === process.pid) continue;
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const t = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (t === want || t === `${want}-wal`) {
          pids.push(Number(pid));
          break;
        }
      } catch {
        /* gone */
      }
    }
  }
  return pids;
}

export interface RestoreSummary {
  madeAt: number;
  ratings: number;
  files: string[];
  /** Where the replaced database and files were moved. */
  keptAs: string | null;
}

export function restoreHub(dataDir: string, from: string, now = Date.now()): RestoreSummary {
  const dbPath = join(dataDir, HUB_DB);
  if (!existsSync(from)) throw new BackupError(`no backup file at ${from}`);
  const holders = processesHolding(dbPath);
  if (holders.length)
    throw new BackupError(`the hub is running (pid ${holders.join(', ')}): stop it first (systemctl stop haochaping-hub), then restore`);
  let madeAt: number;
  let files: { name: string; mode: number; content: Buffer }[];
  let ratings: number;
  const b = new Database(from, { readonly: true, fileMustExist: true });
  try {
    const ok = b.pragma('integrity_check', { simple: true });
    if (ok !== 'ok') throw new BackupError(`the backup file is damaged: ${String(ok)}`);
    const info = b
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('backup_info', 'ratings', 'devices')")
      .all() as { name: string }[];
    if (info.length !== 3) throw new BackupError(`${from} is not a hub backup (made by "haochaping hub backup")`);
    madeAt = (b.prepare('SELECT made_at FROM backup_info').get() as { made_at: number }).made_at;
    files = b.prepare('SELECT name, mode, content FROM backup_files').all() as typeof files;
    ratings = (b.prepare('SELECT count(*) AS n FROM ratings').get() as { n: number }).n;
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(`${from} is not a readable hub backup (${(e as Error).message})`);
  } finally {
    b.close();
  }
  // Move aside what is there now (never deleted), then put the backup in its place.
  let keptAs: string | null = null;
  const aside = join(dataDir, `before-restore-${new Date(now).toISOString().replace(/[:.]/g, '-')}`);
  for (const name of existsSync(dataDir) ? readdirSync(dataDir) : []) {
    if (!isDbFile(name) && !files.some((f) => f.name === name)) continue;
    if (keptAs === null) {
      keptAs = aside;
      mkdirSync(aside, { recursive: true, mode: 0o700 });
    }
    renameSync(join(dataDir, name), join(aside, name));
  }
  const tmp = `${dbPath}.restore-${process.pid}`;
  copyFileSync(from, tmp);
  const r = new Database(tmp);
  try {
    r.exec('DROP TABLE backup_files; DROP TABLE backup_info;');
    r.pragma('journal_mode = WAL');
  } finally {
    r.close();
  }
  chmodSync(tmp, 0o600);
  fsyncPath(tmp);
  renameSync(tmp, dbPath);
  for (const f of files) writeFileAtomic(join(dataDir, f.name), f.content, f.mode);
  fsyncPath(dataDir);
  return { madeAt, ratings, files: files.map((f) => f.name), keptAs: keptAs === null ? null : basename(keptAs) };
}
