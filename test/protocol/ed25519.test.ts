import { generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ed25519Backend, smallOrderPoint, usableEd25519Key, verifyEd25519, verifyWithOpenssl } from '../../protocol/ed25519.js';
import { signRecord, verifyRecord } from '../../protocol/index.js';
import { generateDeviceKeys, identityPointKey, makeRecord, rawEd25519Key } from '../helpers/records.js';

/** The order of Ed25519's base point: S must be below it. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function flipBit(b: Buffer, bit: number): Buffer {
  const c = Buffer.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

/**
 * The curve's points of small order as published (the blacklist of "Taming the many EdDSAs",
 * Chalkias et al. 2020, also libsodium's): canonical encodings with the sign bit clear, then the
 * non-canonical encodings y = p and y = p + 1 of the order-4 and identity points.
 */
const SMALL_ORDER = {
  identity: '0100000000000000000000000000000000000000000000000000000000000000',
  order2: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  order4: '0000000000000000000000000000000000000000000000000000000000000000',
  order8a: '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  order8b: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  order4NonCanonical: 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  identityNonCanonical: 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
};
const CANONICAL = ['identity', 'order2', 'order4', 'order8a', 'order8b'] as const;

/** Both libraries' answers for the same input. */
const both = (m: Buffer, s: Buffer, k: KeyObject) => ({ libsodium: verifyEd25519(m, s, k), openssl: verifyWithOpenssl(m, s, k) });

describe('Ed25519 checks', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it.runIf(process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch))(
    'use libsodium where sodium-native ships a binary (linux x64 and arm64)',
    () => {
      expect(ed25519Backend()).toBe('libsodium');
    },
  );

  it('agree with OpenSSL on good signatures and on every single-bit change of message, signature or key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519').publicKey;
    for (let i = 0; i < 50; i++) {
      const m = randomBytes(1 + Math.floor(Math.random() * 800));
      const s = sign(null, m, privateKey);
      expect(both(m, s, publicKey)).toEqual({ libsodium: true, openssl: true });
      expect(both(m, s, other)).toEqual({ libsodium: false, openssl: false });
      expect(both(flipBit(m, Math.floor(Math.random() * m.length * 8)), s, publicKey)).toEqual({ libsodium: false, openssl: false });
      // R (first half) and S (second half) of the signature.
      expect(both(m, flipBit(s, Math.floor(Math.random() * 256)), publicKey)).toEqual({ libsodium: false, openssl: false });
      expect(both(m, flipBit(s, 256 + Math.floor(Math.random() * 256)), publicKey)).toEqual({ libsodium: false, openssl: false });
    }
  });

  it('refuse a signature whose S is not reduced (S + L signs the same equation)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const m = Buffer.from('非常满意');
    const s = sign(null, m, privateKey);
    const sValue = BigInt('0x' + Buffer.from(s.subarray(32)).reverse().toString('hex')) + L;
    const sBytes = Buffer.from(sValue.toString(16).padStart(64, '0'), 'hex').reverse();
    const malleated = Buffer.concat([s.subarray(0, 32), sBytes]);
    expect(both(m, malleated, publicKey)).toEqual({ libsodium: false, openssl: false });
  });

  it('refuse what OpenSSL alone accepts: the identity point as public key, R the identity and S zero, for any message', () => {
    const { key, raw } = identityPointKey();
    const forged = Buffer.concat([raw, Buffer.alloc(32)]);
    for (const m of [Buffer.from('非常不满意'), randomBytes(100)]) {
      expect(verify(null, m, key, forged)).toBe(true); // why the stricter check matters
      expect(both(m, forged, key)).toEqual({ libsodium: false, openssl: false });
    }
  });

  it('know every point of small order, in every encoding, and no generated key as one', () => {
    for (const hex of Object.values(SMALL_ORDER)) {
      const raw = Buffer.from(hex, 'hex');
      expect(smallOrderPoint(raw), hex).toBe(true);
      const signed = Buffer.from(raw);
      signed[31]! |= 0x80; // the sign bit of x: the same y
      expect(smallOrderPoint(signed), hex).toBe(true);
    }
    for (let i = 0; i < 300; i++) {
      const raw = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
      expect(smallOrderPoint(raw)).toBe(false);
    }
    expect(smallOrderPoint(Buffer.alloc(31))).toBe(false);
  });

  it('refuse, on both paths, the forgeries OpenSSL alone accepts under each key of small order, and such keys at enrolment', () => {
    const identityR = Buffer.from(SMALL_ORDER.identity, 'hex');
    for (const name of CANONICAL) {
      const key = rawEd25519Key(Buffer.from(SMALL_ORDER[name], 'hex'));
      // R the identity and S zero hold whenever [h]A is the identity: for one message in the
      // point's order (1, 2, 4 or 8), so some of 200 random messages are "signed".
      const forged = Buffer.concat([identityR, Buffer.alloc(32)]);
      let acceptedByOpenssl = 0;
      for (let i = 0; i < 200; i++) {
        const m = randomBytes(40);
        if (verify(null, m, key, forged)) acceptedByOpenssl++;
        expect(both(m, forged, key), name).toEqual({ libsodium: false, openssl: false });
      }
      expect(acceptedByOpenssl, name).toBeGreaterThan(0);
      expect(usableEd25519Key(key), name).toBe(false);
    }
    expect(usableEd25519Key(generateKeyPairSync('ed25519').publicKey)).toBe(true);
  });

  it('answer false, without throwing, for signatures of the wrong length and for keys of another type', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const m = Buffer.from('x');
    const s = sign(null, m, privateKey);
    for (const bad of [Buffer.alloc(0), s.subarray(0, 63), Buffer.concat([s, Buffer.from([0])])])
      expect(both(m, bad, publicKey)).toEqual({ libsodium: false, openssl: false });
    // An ECDSA key with its own valid signature: verify(null, …) alone would take it.
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecSig = sign(null, m, ec.privateKey);
    expect(both(m, ecSig, ec.publicKey)).toEqual({ libsodium: false, openssl: false });
    // A private key is not a public key.
    expect(verifyEd25519(m, s, privateKey)).toBe(false);
  });

  it('fall back to OpenSSL when told to (HCP_ED25519=openssl), with the same answers for records', async () => {
    vi.stubEnv('HCP_ED25519', 'openssl');
    vi.resetModules();
    const fresh = await import('../../protocol/ed25519.js');
    expect(fresh.ed25519Backend()).toBe('openssl');
    const keys = generateDeviceKeys();
    const r = makeRecord(keys);
    const m = Buffer.from('payload');
    const s = sign(null, m, keys.privateKey);
    expect(fresh.verifyEd25519(m, s, keys.publicKey)).toBe(true);
    expect(fresh.verifyEd25519(flipBit(m, 3), s, keys.publicKey)).toBe(false);
    // Where libsodium is not there (a 32-bit ARM hub), enrolment still refuses small-order keys.
    expect(fresh.usableEd25519Key(keys.publicKey)).toBe(true);
    for (const name of CANONICAL) expect(fresh.usableEd25519Key(rawEd25519Key(Buffer.from(SMALL_ORDER[name], 'hex'))), name).toBe(false);
    // Records through the module in use in this file (libsodium here), as the hub checks them.
    expect(verifyRecord(r, keys.publicKey).ok).toBe(true);
    expect(verifyRecord(signRecord({ ...r, level: r.level === 1 ? 2 : 1 }, keys.privateKey), keys.publicKey).ok).toBe(true);
    expect(verifyRecord({ ...r, level: r.level === 1 ? 2 : 1 }, keys.publicKey).ok).toBe(false);
  });
});
