import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../hub/util/secrets.js';

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
