/**
 * Web sessions: a random token in an HttpOnly cookie, stored hashed. A session ends when it
 * is idle too long, when it reaches its maximum age (a wall screen logs in again once a day),
 * at log-out, or when the account is disabled or its password changes.
 */
import { newSecret, tokenHash } from '../util/secrets.js';
import type { Db } from '../store/db.js';
import type { StaffUser, Users } from './users.js';

export interface SessionPolicy {
  idleMs: number;
  maxMs: number;
}

export interface ActiveSession {
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

export class Sessions {
  constructor(
    private readonly db: Db,
    private readonly users: Users,
    private readonly policy: SessionPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: StaffUser): { token: string; session: ActiveSession } {
    const token = newSecret();
    const csrf = newSecret(18);
    const now = this.now();
    const expiresAt = now + this.policy.maxMs;
    this.db
      .prepare('INSERT INTO staff_sessions (token_hash, user_id, csrf, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(tokenHash(token), user.id, csrf, now, now, expiresAt);
    return { token, session: { user, csrf, expiresAt, idleUntil: now + this.policy.idleMs } };
  }

  /** The live session for a token, or null (unknown, ended, idle too long, too old, account disabled). */
  resolve(token: string | undefined, touch = true): ActiveSession | null {
    if (!token) return null;
    const h = tokenHash(token);
    const r = this.db
      .prepare<[string], Row>(
        'SELECT user_id, csrf, created_at, last_seen_at, expires_at, ended_at FROM staff_sessions WHERE token_hash = ?',
      )
      .get(h);
    if (!r || r.ended_at !== null) return null;
    const now = this.now();
    if (now >= r.expires_at || now - r.last_seen_at >= this.policy.idleMs) return null;
    const user = this.users.get(r.user_id);
    if (!user || user.disabledAt !== null) return null;
    let lastSeen = r.last_seen_at;
    if (touch && now - r.last_seen_at >= TOUCH_EVERY_MS) {
      this.db.prepare('UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?').run(now, h);
      lastSeen = now;
    }
    return { user, csrf: r.csrf, expiresAt: r.expires_at, idleUntil: Math.min(r.expires_at, lastSeen + this.policy.idleMs) };
  }

  end(token: string): void {
    this.db.prepare('UPDATE staff_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL').run(this.now(), tokenHash(token));
  }

  /** Forgets sessions that ended or expired more than a day ago. */
  prune(): number {
    const cutoff = this.now() - 86_400_000;
    return this.db.prepare('DELETE FROM staff_sessions WHERE coalesce(ended_at, expires_at) < ?').run(cutoff).changes;
  }
}
