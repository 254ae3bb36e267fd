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
  it('gives what recordHash and verifyRecord give, for every key order, unicode text and any field changed', () => {
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
