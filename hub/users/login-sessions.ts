/**
 * Staff log-ins to the hall page: a random token in an HttpOnly cookie, stored hashed (table
 * staff_logins). Not to be confused with service sessions (办件会话, hub/sessions/), which the
 * queue system opens for a citizen's business at a window. A log-in ends when it is idle too
 * long, when it reaches its maximum age (a wall screen logs in again once a day), at log-out,
 * or when the account is disabled or its password changes.
 */
import { newSecret, tokenHash } from '../util/secrets.js';
import type { Db } from '../store/db.js';
import type { StaffUser, Users } from './users.js';

export interface LoginPolicy {
  idleMs: number;
  maxMs: number;
}

export interface ActiveLogin {
  user: StaffUser;
  csrf: string;
  expiresAt: number;
  idleUntil: number;
}

interface Row {
  user_id: number;
  csrf: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ended_at: number | null;
}

/** last_seen_at is written at most this often (every request would be a write otherwise). */
const TOUCH_EVERY_MS = 30_000;

export class LoginSessions {
  constructor(
    private readonly db: Db,
    private readonly users: Users,
    private readonly policy: LoginPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: StaffUser): { token: string; login: ActiveLogin } {
    const token = newSecret();
    const csrf = newSecret(18);
    const now = this.now();
    const expiresAt = now + this.policy.maxMs;
    this.db
      .prepare('INSERT INTO staff_logins (token_hash, user_id, csrf, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(tokenHash(token), user.id, csrf, now, now, expiresAt);
    return { token, login: { user, csrf, expiresAt, idleUntil: now + this.policy.idleMs } };
  }

  /** The live log-in for a token, or null (unknown, ended, idle too long, too old, account disabled). */
  resolve(token: string | undefined, touch = true): ActiveLogin | null {
    if (!token) return null;
    const h = tokenHash(token);
    const r = this.db
      .prepare<[string], Row>('SELECT user_id, csrf, created_at, last_seen_at, expires_at, ended_at FROM staff_logins WHERE token_hash = ?')
      .get(h);
    if (!r || r.ended_at !== null) return null;
    const now = this.now();
    if (now >= r.expires_at || now - r.last_seen_at >= this.policy.idleMs) return null;
    const user = this.users.get(r.user_id);
    if (!user || user.disabledAt !== null) return null;
    let lastSeen = r.last_seen_at;
    if (touch && now - r.last_seen_at >= TOUCH_EVERY_MS) {
      this.db.prepare('UPDATE staff_logins SET last_seen_at = ? WHERE token_hash = ?').run(now, h);
      lastSeen = now;
    }
    return { user, csrf: r.csrf, expiresAt: r.expires_at, idleUntil: Math.min(r.expires_at, lastSeen + this.policy.idleMs) };
  }

  end(token: string): void {
    this.db.prepare('UPDATE staff_logins SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL').run(this.now(), tokenHash(token));
  }

  /** Forgets log-ins that ended or expired more than a day ago. */
  prune(): number {
    const cutoff = this.now() - 86_400_000;
    return this.db.prepare('DELETE FROM staff_logins WHERE coalesce(ended_at, expires_at) < ?').run(cutoff).changes;
  }
}

/**
 * Staff log-ins get their own name (staff_sessions → staff_logins): "sessions" in this hub are
 * the queue system's service sessions. A rename keeps every row, so nobody is logged out.
 */
export const STAFF_LOGINS_MIGRATION = `
  ALTER TABLE staff_sessions RENAME TO staff_logins;
  DROP INDEX staff_sessions_user;
  CREATE INDEX staff_logins_user ON staff_logins (user_id);
`;
