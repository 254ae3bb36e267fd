import type { Db } from '../store/db.js';
import { newSecret, tokenHash } from '../util/secrets.js';

export const ROLES = ['admin', 'queue-system', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** API tokens for the queue/business system, hall IT and viewers; stored hashed. */
export class ApiTokens {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  create(name: string, role: Role, token = newSecret()): string {
    this.db.prepare('INSERT INTO api_tokens (token_hash, name, role, created_at) VALUES (?, ?, ?, ?)').run(tokenHash(token), name, role, this.now());
    return token;
  }

  /** The role of a live token, or null. */
  role(token: string): Role | null {
    const row = this.db.prepare<[string], { role: Role }>('SELECT role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL').get(tokenHash(token));
    return row?.role ?? null;
  }

  hasAdmin(): boolean {
    return !!this.db.prepare("SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL").get();
  }
}
