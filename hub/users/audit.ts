/**
 * The hall's audit log: who did what, when. Append-only in SQLite itself (triggers refuse
 * UPDATE and DELETE), and each row carries a hash over the previous row's hash and its own
 * content, so a row changed behind the hub's back (triggers dropped, file edited) shows up
 * when the chain is checked.
 */
import { canonical, GENESIS_HASH, sha256Hex } from '../../protocol/index.js';
import type { Db } from '../store/db.js';

/** Appended to MIGRATIONS (hub/store/db.ts). */
export const USERS_MIGRATION = `
  CREATE TABLE audit_log (
    n INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_at ON audit_log (at);
  CREATE TRIGGER audit_log_append_only_u BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
  CREATE TRIGGER audit_log_append_only_d BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

  -- Hall staff who use the web page (not the window staff on duty, not API tokens).
  CREATE TABLE staff_users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
  );

  CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES staff_users (id),
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER
  );
  CREATE INDEX staff_sessions_user ON staff_sessions (user_id);
`;

/** The hash that chains one row to the one before it. */
export function chainHash(prev: string, fields: Record<string, unknown>): string {
  return sha256Hex(prev + '\n' + canonical(fields));
}

export interface AuditRow {
  n: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  detail: string;
  prev_hash: string;
  hash: string;
}

export class AuditLog {
  private readonly last;
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.last = db.prepare<[], { hash: string }>('SELECT hash FROM audit_log ORDER BY n DESC LIMIT 1');
    this.insert = db.prepare('INSERT INTO audit_log (at, actor, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
  }

  /** Appends one entry (inside the caller's transaction, if any). */
  record(actor: string, action: string, target: string | null = null, detail: Record<string, unknown> = {}): void {
    const at = this.now();
    const prev = this.last.get()?.hash ?? GENESIS_HASH;
    const d = JSON.stringify(detail);
    this.insert.run(at, actor, action, target, d, prev, chainHash(prev, { at, actor, action, target, detail: d }));
  }

  recent(limit = 200, beforeN?: number): AuditRow[] {
    return this.db
      .prepare<[number, number], AuditRow>('SELECT * FROM audit_log WHERE n < ? ORDER BY n DESC LIMIT ?')
      .all(beforeN ?? Number.MAX_SAFE_INTEGER, limit);
  }

  /** Checks the whole chain; returns the first row that does not fit, or null. */
  verify(): { n: number; reason: string } | null {
    let prev = GENESIS_HASH;
    for (const r of this.db.prepare<[], AuditRow>('SELECT * FROM audit_log ORDER BY n').iterate()) {
      if (r.prev_hash !== prev) return { n: r.n, reason: 'previous hash does not match' };
      if (chainHash(prev, { at: r.at, actor: r.actor, action: r.action, target: r.target, detail: r.detail }) !== r.hash)
        return { n: r.n, reason: 'content does not match its hash' };
      prev = r.hash;
    }
    return null;
  }
}
