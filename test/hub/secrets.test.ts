import { scryptSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openHubDb } from '../../hub/store/db.js';
import { AuditLog } from '../../hub/users/audit.js';
import { Users } from '../../hub/users/users.js';
import { Registry } from '../../hub/registry/registry.js';
import {
  DEVICE_SECRET_COST,
  hashDeviceSecret,
  hashPassword,
  HUMAN_PASSWORD_COST,
  verifyDeviceSecret,
  verifyPassword,
} from '../../hub/util/secrets.js';
import { exportPublicKey, generateDeviceKeys } from '../../protocol/index.js';

describe('device secrets at rest', () => {
  it('are salted HMAC-SHA256 of the 256-bit random secret: each hash has its own salt, only the secret verifies', async () => {
    const secret = 's3cret-of-43-chars-xxxxxxxxxxxxxxxxxxxxxxx';
    const h = hashDeviceSecret(secret);
    expect(h).toMatch(/^hmac-sha256\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(hashDeviceSecret(secret)).not.toBe(h);
    expect(verifyDeviceSecret(secret, h)).toBe(true);
    expect(await verifyPassword(secret, h)).toBe(true);
    expect(verifyDeviceSecret(secret + 'x', h)).toBe(false);
    expect(verifyDeviceSecret(secret, h.slice(0, -4))).toBe(false);
    expect(verifyDeviceSecret(secret, 'plain-text')).toBe(false);
  });

  it('hashes made with scrypt by older hubs (2^12 and 2^14) still verify', async () => {
    const h = await hashPassword('s3cret-of-43-chars-xxxxxxxxxxxxxxxxxxxxxxx', DEVICE_SECRET_COST);
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

describe('the MQTT secret check', () => {
  it("lets an enrolled device in on its secret's fast hash; an older scrypt hash is replaced by the fast form on the first good connect only", async () => {
    const db = openHubDb(join(mkdtempSync(join(tmpdir(), 'hcp-secret-')), 'hub.db'));
    const registry = new Registry(db, 'hall-1');
    const { token } = registry.add({ id: 'ev-001', window: '01' });
    const { password } = await registry.enrol(token, exportPublicKey(generateDeviceKeys().publicKey));
    const stored = () => db.prepare<[], { secret_hash: string }>("SELECT secret_hash FROM devices WHERE id = 'ev-001'").get()!.secret_hash;
    expect(stored()).toMatch(/^hmac-sha256\$/);
    expect(await registry.checkCredentials('ev-001', password)).toBe(true);
    expect(await registry.checkCredentials('ev-001', password + 'x')).toBe(false);
    expect(await registry.checkCredentials('ev-002', password)).toBe(false);

    // A hub upgraded with devices enrolled under scrypt.
    const legacy = await hashPassword(password, DEVICE_SECRET_COST);
    db.prepare("UPDATE devices SET secret_hash = ? WHERE id = 'ev-001'").run(legacy);
    expect(await registry.checkCredentials('ev-001', 'not-the-secret')).toBe(false);
    expect(stored()).toBe(legacy);
    // A device that stopped waiting for its turn is not told it was wrong, and nothing changes.
    expect(await registry.checkCredentials('ev-001', password, () => false)).toBe('gave-up');
    expect(stored()).toBe(legacy);
    expect(await registry.checkCredentials('ev-001', password)).toBe(true);
    expect(stored()).toMatch(/^hmac-sha256\$/);
    expect(verifyDeviceSecret(password, stored())).toBe(true);
    expect(await registry.checkCredentials('ev-001', password)).toBe(true);

    registry.revoke('ev-001');
    expect(await registry.checkCredentials('ev-001', password)).toBe(false);
    db.close();
  });
});

describe('staff passwords at rest (the hall page)', () => {
  it('cost the full 2^14 that passwords people chose need (device secrets are random: a fast HMAC is enough)', async () => {
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
