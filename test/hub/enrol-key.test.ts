import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Registry } from '../../hub/registry/registry.js';
import { openHubDb } from '../../hub/store/db.js';
import { exportPublicKey, generateDeviceKeys } from '../../protocol/index.js';
import { identityPointKey } from '../helpers/records.js';

const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');

describe('enrolment takes only a usable Ed25519 key', () => {
  it('refuses another key type and a small-order point, keeps the token, and enrols the same token with a generated key', async () => {
    const db = openHubDb(join(mkdtempSync(join(tmpdir(), 'hcp-enrol-key-')), 'hub.db'));
    const registry = new Registry(db, 'hall-1');
    const { token } = registry.add({ id: 'ev-001', window: '01' });

    // An ECDSA key parses as SPKI; its signatures are not Ed25519's.
    const ec = spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    await expect(registry.enrol(token, ec)).rejects.toMatchObject({ name: 'RegistryError', code: 'invalid' });
    await expect(registry.enrol(token, 'bm90IGEga2V5')).rejects.toMatchObject({ code: 'invalid' });

    // The identity point: OpenSSL accepts R = identity, S = 0 under it for any message. Refused
    // with either library (test/protocol/ed25519.test.ts runs the OpenSSL-only path).
    const weak = identityPointKey().key;
    await expect(registry.enrol(token, spki(weak))).rejects.toMatchObject({
      code: 'invalid',
      message: expect.stringContaining('full order'),
    });
    expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM devices WHERE public_key IS NOT NULL').get()!.n).toBe(0);

    const good = await registry.enrol(token, exportPublicKey(generateDeviceKeys().publicKey));
    expect(good.password).toBeTruthy();
    expect(registry.publicKey('ev-001')?.asymmetricKeyType).toBe('ed25519');
    db.close();
  });
});
