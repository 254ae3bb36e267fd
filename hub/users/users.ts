/**
 * Hall staff accounts for the web page, with three roles: admin (manages accounts, judges
 * appeals), supervisor (handles 差评 work orders), viewer (reads, e.g. the wall screen).
 * Passwords are scrypt hashes (hub/util/secrets.ts); repeated failures lock an account for
 * a while. Every change goes to the audit log.
 */
import { CodedError } from '../../common/errors.js';
import { z } from 'zod';
import type { Db } from '../store/db.js';
import { hashPassword, HUMAN_PASSWORD_COST, newSecret, verifyPassword } from '../util/secrets.js';
import type { AuditLog } from './audit.js';

export const STAFF_ROLES = ['admin', 'supervisor', 'viewer'] as const;
export type StaffRoleName = (typeof STAFF_ROLES)[number];
export const ROLE_LABELS: Record<StaffRoleName, string> = { admin: '管理员', supervisor: '督办员', viewer: '只读' };

export const UserNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.@-]{2,32}$/, '账号须为2–32位字母、数字或 _ . @ - (user name: 2–32 letters, digits, _ . @ -)');
export const PasswordSchema = z.string().min(10, '密码至少10位 (password: at least 10 characters)').max(200);

export interface StaffUser {
  id: number;
  name: string;
  displayName: string | null;
  role: StaffRoleName;
  createdAt: number;
  disabledAt: number | null;
}

interface Row {
  id: number;
  name: string;
  display_name: string | null;
  role: StaffRoleName;
  password_hash: string;
  created_at: number;
  disabled_at: number | null;
  failed_logins: number;
  locked_until: number | null;
}

const toUser = (r: Row): StaffUser => ({
  id: r.id,
  name: r.name,
  displayName: r.display_name,
  role: r.role,
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
});

type UserErrorCode = 'exists' | 'not-found' | 'invalid' | 'last-admin';

export class UserError extends CodedError<UserErrorCode> {
  override readonly name = 'UserError';
  constructor(code: UserErrorCode, message: string) {
    super(code, message, code === 'not-found' ? 404 : 409);
  }
}

export type LoginResult =
  { ok: true; user: StaffUser } | { ok: false; reason: 'bad-credentials' | 'locked' | 'disabled'; lockedUntil?: number };

/** After this many failures in a row an account is locked for LOCK_MS. */
export const MAX_FAILURES = 5;
export const LOCK_MS = 10 * 60_000;

// Compared against when the name is unknown, so a wrong name takes as long as a wrong password.
let DUMMY_HASH: Promise<string> | null = null;

export class Users {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
  ) {}

  private row(name: string): Row | undefined {
    return this.db.prepare<[string], Row>('SELECT * FROM staff_users WHERE name = ?').get(name);
  }

  get(id: number): StaffUser | null {
    const r = this.db.prepare<[number], Row>('SELECT * FROM staff_users WHERE id = ?').get(id);
    return r ? toUser(r) : null;
  }

  byName(name: string): StaffUser | null {
    const r = this.row(name);
    return r ? toUser(r) : null;
  }

  list(): StaffUser[] {
    return this.db.prepare<[], Row>('SELECT * FROM staff_users ORDER BY role, name').all().map(toUser);
  }

  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM staff_users').get()!.n;
  }

  /** Adds an account; without a password one is generated and returned. */
  async add(
    by: string,
    o: { name: string; role: StaffRoleName; password?: string; displayName?: string },
  ): Promise<{ user: StaffUser; password: string }> {
    const name = UserNameSchema.parse(o.name);
    if (!STAFF_ROLES.includes(o.role)) throw new UserError('invalid', `role must be one of ${STAFF_ROLES.join(', ')}`);
    const password = o.password ?? newSecret(12);
    PasswordSchema.parse(password);
    const hash = await hashPassword(password, HUMAN_PASSWORD_COST);
    return this.db.transaction(() => {
      if (this.row(name)) throw new UserError('exists', `账号 ${name} 已存在 (user ${name} exists)`);
      const r = this.db
        .prepare('INSERT INTO staff_users (name, display_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(name, o.displayName?.trim() || null, o.role, hash, this.now());
      this.audit.record(by, 'user-add', name, { role: o.role });
      return { user: this.get(Number(r.lastInsertRowid))!, password };
    })();
  }

  async setPassword(by: string, name: string, password: string): Promise<void> {
    PasswordSchema.parse(password);
    const hash = await hashPassword(password, HUMAN_PASSWORD_COST);
    this.db.transaction(() => {
      const r = this.db
        .prepare('UPDATE staff_users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE name = ?')
        .run(hash, name);
      if (r.changes === 0) throw new UserError('not-found', `no user ${name}`);
      // A new password ends every session of the account.
      this.db
        .prepare('UPDATE staff_logins SET ended_at = ? WHERE ended_at IS NULL AND user_id = (SELECT id FROM staff_users WHERE name = ?)')
        .run(this.now(), name);
      this.audit.record(by, 'password-set', name);
    })();
  }

  setDisabled(by: string, name: string, disabled: boolean): void {
    this.db.transaction(() => {
      const u = this.row(name);
      if (!u) throw new UserError('not-found', `no user ${name}`);
      if (disabled && u.role === 'admin' && u.disabled_at === null) {
        const admins = this.db
          .prepare<[], { n: number }>("SELECT count(*) AS n FROM staff_users WHERE role = 'admin' AND disabled_at IS NULL")
          .get()!.n;
        if (admins <= 1) throw new UserError('last-admin', '不能停用最后一个管理员 (cannot disable the last admin)');
      }
      this.db.prepare('UPDATE staff_users SET disabled_at = ? WHERE id = ?').run(disabled ? this.now() : null, u.id);
      if (disabled) this.db.prepare('UPDATE staff_logins SET ended_at = ? WHERE ended_at IS NULL AND user_id = ?').run(this.now(), u.id);
      this.audit.record(by, disabled ? 'user-disable' : 'user-enable', name);
    })();
  }

  /** Checks a name and password; counts failures and locks the account after MAX_FAILURES. */
  async login(name: string, password: string, from: string | null = null): Promise<LoginResult> {
    const r = this.row(name);
    if (!r) {
      await verifyPassword(password, await (DUMMY_HASH ??= hashPassword(newSecret(), HUMAN_PASSWORD_COST)));
      this.audit.record(name.slice(0, 64) || '?', 'login-failed', null, { reason: 'unknown-user', from });
      return { ok: false, reason: 'bad-credentials' };
    }
    const now = this.now();
    // The attempt is counted BEFORE the password is checked, by an atomic increment that is
    // also the lock check: with the count read before a ~100 ms scrypt and written after it,
    // N guesses in parallel all saw the same count and never reached the limit. Now the
    // (MAX_FAILURES+1)th attempt in flight locks the account at once, whatever the others
    // turn out to be; a success clears the count. An expired lock starts a fresh count.
    const attempt = this.db
      .prepare<[{ id: number; now: number; max: number; until: number }], { n: number; locked_until: number | null }>(
        `UPDATE staff_users SET
           failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= @now THEN 1 ELSE failed_logins + 1 END,
           locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= @now THEN NULL
                               WHEN failed_logins + 1 > @max THEN @until ELSE locked_until END
         WHERE id = @id AND (locked_until IS NULL OR locked_until <= @now)
         RETURNING failed_logins AS n, locked_until`,
      )
      .get({ id: r.id, now, max: MAX_FAILURES, until: now + LOCK_MS });
    if (!attempt || attempt.locked_until !== null) {
      const lockedUntil = attempt?.locked_until ?? this.row(name)?.locked_until ?? now + LOCK_MS;
      this.audit.record(r.name, 'login-failed', null, { reason: 'locked', from });
      return { ok: false, reason: 'locked', lockedUntil };
    }
    const good = await verifyPassword(password, r.password_hash);
    if (!good) {
      // Already counted; the attempt that used up the last try locks the account.
      const lock = attempt.n >= MAX_FAILURES ? now + LOCK_MS : null;
      if (lock) this.db.prepare('UPDATE staff_users SET locked_until = max(coalesce(locked_until, 0), ?) WHERE id = ?').run(lock, r.id);
      this.audit.record(r.name, 'login-failed', null, { reason: 'bad-password', from, ...(lock ? { lockedUntil: lock } : {}) });
      return lock ? { ok: false, reason: 'locked', lockedUntil: lock } : { ok: false, reason: 'bad-credentials' };
    }
    if (r.disabled_at !== null) {
      this.audit.record(r.name, 'login-failed', null, { reason: 'disabled', from });
      return { ok: false, reason: 'disabled' };
    }
    // A right password within the allowance logs in; a lock other attempts set meanwhile stays.
    this.db.prepare('UPDATE staff_users SET failed_logins = 0 WHERE id = ? AND locked_until IS NULL').run(r.id);
    this.audit.record(r.name, 'login', null, { from });
    return { ok: true, user: toUser(r) };
  }
}
