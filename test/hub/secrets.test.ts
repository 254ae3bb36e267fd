import { scryptSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openHubDb } from '../../hub/store/db.js';
import { AuditLog } from '../../hub/users/audit.js';
import { Users } from '../../hub/users/users.js';
import { hashPassword, HUMAN_PASSWORD_COST, verifyPassword } from '../../hub/util/secrets.js';

describe('device secrets at rest', () => {
  it('are scrypt hashes that carry their cost; hashes made with the older, higher cost still verify', async () => {
    const h = await hashPassword('s3cret-of-43-chars-xxxxxxxxxxxxxxxxxxxxxxx');
    expect(h).toMatch(/^scrypt\$4096\$8\$1\$/);
    expect(await verifyPassword('s3cret-of-43-chars-xxxxxxxxxxxxxxxxxxxxxxx', h)).toBe(true);
    expect(await verifyPassword('wrong', h)).toBe(false);
    const salt = Buffer.from('0123456789abcdef');
    const old = `scrypt$16384$8$1$${salt.toString('base64')}$${scryptSync('old-secret', salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')}`;
    expect(await verifyPassword('old-secret', old)).toBe(true);
    expect(await verifyPassword('old-secret!', old)).toBe(false);
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
  });
});

describe('staff passwords at rest (the hall page)', () => {
  it("cost the full 2^14 that passwords people chose need, not the device secrets' 2^12", async () => {
    const db = openHubDb(join(mkdtempSync(join(tmpdir(), 'hcp-pw-')), 'hub.db'));
    const users = new Users(db, new AuditLog(db));
    await users.add('test', { name: 'zhang', role: 'supervisor', password: 'a-long-password-1' });
    const stored = db.prepare<[], { password_hash: string }>("SELECT password_hash FROM staff_users WHERE name = 'zhang'").get()!
      .password_hash;
    expect(stored).toMatch(new RegExp(`^scrypt\\$${HUMAN_PASSWORD_COST}\\$8\\$1\\$`));
    expect(HUMAN_PASSWORD_COST).toBe(16384);
    expect((await users.login('zhang', 'a-long-password-1')).ok).toBe(true);
    db.close();
  });
});
