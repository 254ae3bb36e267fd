import { describe, expect, it } from 'vitest';
import {
  canonical,
  checkSigned,
  EMPTY_CHAIN,
  followsOn,
  GENESIS_HASH,
  importPublicKey,
  exportPublicKey,
  nextLink,
  recordHash,
  signRecord,
  verifyRecord,
} from '../../protocol/index.js';
import { generateDeviceKeys, makeChain, makeRecord } from '../helpers/records.js';

const keys = generateDeviceKeys();

describe('canonical encoding', () => {
  it('does not depend on key order or whitespace', () => {
    expect(canonical({ b: 1, a: [1, { d: 'x', c: null }] })).toBe('{"a":[1,{"c":null,"d":"x"}],"b":1}');
    expect(canonical({ a: 1, b: 2 })).toBe(canonical({ b: 2, a: 1 }));
  });
});

describe('record signatures', () => {
  it('verify with the device key, also after a JSON round trip with keys reordered', () => {
    const r = makeRecord(keys);
    const shuffled = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(r).reverse())));
    expect(verifyRecord(shuffled, keys.publicKey).ok).toBe(true);
  });

  it('fail when any field was changed after signing', () => {
    const r = makeRecord(keys, { level: 1, reasons: ['115'] });
    for (const change of [{ level: 5, reasons: [] }, { window: '13' }, { seq: 2 }, { session: null }, { flags: ['too-soon'] }]) {
      const v = verifyRecord({ ...r, ...change } as typeof r, keys.publicKey);
      expect(v.ok).toBe(false);
      if (!v.ok) expect(v.error.code).toBe('bad-signature');
    }
  });

  it("fail with another device's key", () => {
    expect(verifyRecord(makeRecord(keys), generateDeviceKeys().publicKey).ok).toBe(false);
  });

  it('public keys survive export and import as registered at enrolment', () => {
    const r = makeRecord(keys);
    expect(verifyRecord(r, importPublicKey(exportPublicKey(keys.publicKey))).ok).toBe(true);
  });
});

describe('checkSigned: the hash and the signature from one canonical pass', () => {
  it("gives recordHash's hash and verifyRecord's verdict (signRecord's signature holds, a change breaks it) for every key order, unicode text and any field changed", () => {
    const r = makeRecord(keys, {
      level: 1,
      reasons: ['115'],
      session: { id: 's-1', cases: ['BJ2026', '案件 "二"'], itemCode: '11420000MB1234567X', itemName: '不动产登记 \\ é 😀' },
    });
    const reversed = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(r).reverse()))) as typeof r;
    const variants = [r, reversed, { ...r, level: 5 as const }, { ...r, window: '13' }, { ...r, sig: r.sig.replace(/^./, 'A') }];
    const other = generateDeviceKeys().publicKey;
    for (const v of variants)
      for (const key of [keys.publicKey, other]) {
        const c = checkSigned(v, key);
        expect(c.hash).toBe(recordHash(v));
        expect(c.signed).toBe(verifyRecord(v, key).ok);
      }
    expect(checkSigned(reversed, keys.publicKey).signed).toBe(true);
    expect(checkSigned({ ...r, level: 5 }, keys.publicKey).signed).toBe(false);
  });

  it('treats a __proto__ member parsed from JSON as data, and refuses a signature that is not base64 text', () => {
    const { sig: _s, ...unsigned } = makeRecord(keys);
    // JSON.parse makes "__proto__" an own member: signed over, hashed, and it must stay so.
    const withProto = JSON.parse(JSON.stringify(unsigned).replace(/^\{/, '{"__proto__":{"x":1},')) as typeof unsigned;
    const signed = signRecord(withProto, keys.privateKey);
    const parsed = JSON.parse(JSON.stringify(signed)) as typeof signed;
    expect(Object.keys(parsed)).toContain('__proto__');
    expect(checkSigned(parsed, keys.publicKey)).toEqual({ hash: recordHash(parsed), signed: true });
    const stripped = { ...parsed };
    delete (stripped as Record<string, unknown>)['__proto__'];
    expect(checkSigned(stripped, keys.publicKey).signed).toBe(false);
    expect(verifyRecord(stripped, keys.publicKey).ok).toBe(false);
    // The signature's 64 bytes as an array (an edited stored body): no signature, on both paths.
    const asBytes = { ...makeRecord(keys) };
    (asBytes as unknown as { sig: number[] }).sig = [...Buffer.from(asBytes.sig, 'base64')];
    expect(checkSigned(asBytes, keys.publicKey).signed).toBe(false);
    expect(verifyRecord(asBytes, keys.publicKey).ok).toBe(false);
  });

  it('gives the hash alone without a key, and for a body that is not an object', () => {
    const r = makeRecord(keys);
    expect(checkSigned(r, undefined)).toEqual({ hash: recordHash(r), signed: false });
    for (const body of [[1, 2], 5, 'x', true])
      expect(checkSigned(body as unknown as typeof r, keys.publicKey)).toEqual({
        hash: recordHash(body as unknown as typeof r),
        signed: false,
      });
  });

  it('leaves out members whose value is undefined, as the canonical form does, and refuses a record without sig', () => {
    const r = makeRecord(keys);
    const extra = { ...r, note: undefined } as unknown as typeof r;
    expect(checkSigned(extra, keys.publicKey)).toEqual({ hash: recordHash(r), signed: true });
    const { sig: _sig, ...unsigned } = r;
    expect(checkSigned(unsigned as typeof r, keys.publicKey)).toEqual({ hash: recordHash(unsigned as typeof r), signed: false });
  });
});

describe('the hash chain', () => {
  it('links each record to the hash of the one before', () => {
    const chain = makeChain(keys, 4);
    expect(chain[0]!.prev).toBe(GENESIS_HASH);
    let head = EMPTY_CHAIN;
    for (const r of chain) {
      expect(nextLink(head)).toEqual({ seq: r.seq, prev: r.prev });
      expect(followsOn(head, r)).toBe(true);
      head = { seq: r.seq, hash: recordHash(r) };
    }
  });

  it('breaks when a record is left out or replaced', () => {
    const chain = makeChain(keys, 3);
    const head1 = { seq: 1, hash: recordHash(chain[0]!) };
    expect(followsOn(head1, chain[2]!)).toBe(false);
    const forged = makeRecord(keys, { seq: 2, prev: recordHash(makeRecord(keys)) });
    expect(followsOn(head1, forged)).toBe(false);
  });

  it('hash covers the signature, so a re-signed record hashes differently', () => {
    const a = makeRecord(keys);
    const b = makeRecord(generateDeviceKeys(), { id: a.id });
    expect(recordHash(a)).not.toBe(recordHash(b));
  });
});
