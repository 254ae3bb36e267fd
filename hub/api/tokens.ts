import type { Db } from '../store/db.js';
import { newSecret, tokenHash } from '../util/secrets.js';

export const ROLES = ['admin', 'queue-system', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: number;
  revokedAt: number | null;
}

/** API tokens for the queue/business system, hall IT and viewers; stored hashed. */
export class ApiTokens {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  create(name: string, role: Role, token = newSecret()): string {
    this.db
      .prepare('INSERT INTO api_tokens (token_hash, name, role, created_at) VALUES (?, ?, ?, ?)')
      .run(tokenHash(token), name, role, this.now());
    return token;
  }

  /** The role of a live token, or null. */
  role(token: string): Role | null {
    const row = this.db
      .prepare<[string], { role: Role }>('SELECT role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL')
      .get(tokenHash(token));
    return row?.role ?? null;
  }

  hasAdmin(): boolean {
    return !!this.db.prepare("SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL").get();
  }

  list(): TokenInfo[] {
    return this.db
      .prepare<[], { name: string; role: Role; created_at: number; revoked_at: number | null }>(
        'SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at',
      )
      .all()
      .map((r) => ({ name: r.name, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  /** Revokes every live token with this name; returns how many. */
  revoke(name: string): number {
    return this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(this.now(), name).changes;
  }
}
