/**
 * File modes for what the hub and the device keep: ratings, keys and secrets are readable by
 * the service's own user only. Directories 0700, database and key files 0600. Applied when a
 * file is opened, and to files that already exist (a data directory made by an older release,
 * or by hand with the default umask, is tightened at the next start).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** A data directory or file that cannot be made private (owned by another user, read-only disk). */
export class FileModeError extends Error {
  override readonly name = 'FileModeError';
}

/** Makes `dir` (and missing parents) and sets it to 0700. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    chmodSync(dir, PRIVATE_DIR_MODE);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileModeError(
      `cannot make the data directory ${dir} private (mode 0700): ${code ?? (e as Error).message}${code === 'EPERM' ? ' — it belongs to another user; chown it to the user the service runs as' : ''}`,
    );
  }
}

/** Sets an existing file to 0600; a missing one is left missing. */
export function tightenFile(path: string): void {
  if (existsSync(path)) chmodSync(path, PRIVATE_FILE_MODE);
}

/**
 * Call before opening an SQLite database: creates the file 0600 if it is missing (an empty
 * file is an empty database to SQLite) and tightens an existing one and its -wal / -shm.
 * SQLite gives the -wal, -shm and -journal files it creates later the database file's mode,
 * so they are born 0600 too.
 */
export function preparePrivateDb(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  tightenDbFiles(path);
}

/** The database file and its -wal, -shm and -journal, where present, to 0600. */
export function tightenDbFiles(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) tightenFile(p);
}
