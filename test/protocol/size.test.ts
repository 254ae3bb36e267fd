import { describe, expect, it } from 'vitest';
import {
  checkRecordFits,
  encode,
  MAX_BYTES,
  OversizedMessageError,
  ProtocolError,
  wireBytes,
  worstCaseRecord,
  worstCaseRecordBytes,
  type RecordContext,
} from '../../protocol/index.js';
import { generateDeviceKeys, makeRecord } from '../helpers/records.js';

const keys = generateDeviceKeys();
const cjkCases = (n: number) => Array.from({ length: n }, (_, i) => `${String(i).padStart(2, '0')}${'办'.repeat(59)}`);
const ctx = (over: Partial<RecordContext> = {}): RecordContext => ({
  hall: 'hall-1',
  device: 'ev-001',
  window: '12',
  staffId: 'S042',
  catalogue: 'builtin-2026.1',
  session: null,
  ...over,
});

describe('encode enforces the byte limit of each topic', () => {
  it('refuses a session message over 8 KiB with a typed error naming the limit', () => {
    const session = { id: 'S1', cases: cjkCases(50), itemCode: null, itemName: null };
    let thrown: unknown;
    try {
      encode('session', { v: 1, op: 'open', session, staffId: null, openedAt: 1 });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(OversizedMessageError);
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect(thrown).toMatchObject({ code: 'oversized', kind: 'session', limit: MAX_BYTES.session });
    expect((thrown as Error).message).toMatch(/session message is \d+ bytes; the protocol limit for session messages is 8192 bytes/);
  });

  it('refuses a rating record over 8 KiB that its schema accepts', () => {
    const r = makeRecord(keys, { session: { id: 'S1', cases: cjkCases(50), itemCode: null, itemName: null } });
    expect(() => encode('rating', r)).toThrow(OversizedMessageError);
  });

  it('encodes what fits, byte for byte what wireBytes counts', () => {
    const r = makeRecord(keys);
    expect(encode('rating', r).byteLength).toBe(wireBytes(r));
  });
});

describe('the worst-case record of a session', () => {
  it('is never smaller than a real record made in the same context, whatever level, reasons and flags', () => {
    const session = { id: 'sess-1', cases: cjkCases(30), itemCode: 'X', itemName: '不动产登记' };
    const worst = worstCaseRecordBytes(ctx({ session }));
    const variants = [
      makeRecord(keys, {
        session,
        level: 1,
        reasons: ['108', '109', '110', '111', '112', '113', '114', '115'],
        flags: ['too-soon', 'no-reason', 'repeated'],
        seq: 2 ** 40,
        at: Date.now(),
        mono: 2 ** 45,
        clockSynced: false,
      }),
      makeRecord(keys, { session, kind: 'not-rated', level: null, reasons: [], flags: ['no-session', 'walk-up'] }),
      makeRecord(keys, { session, level: 5, reasons: [] }),
    ];
    for (const v of variants) expect(wireBytes(v)).toBeLessThanOrEqual(worst);
    expect(wireBytes(worstCaseRecord(ctx({ session })))).toBe(worst);
  });

  it('takes a session without staff as one whose staff id will be the longest', () => {
    expect(worstCaseRecordBytes(ctx({ staffId: null }))).toBe(worstCaseRecordBytes(ctx({ staffId: 'S'.repeat(64) })));
  });

  it('judges the reported batch: 38 cases of 61 CJK characters fit with a short item and not with the longest item name', () => {
    expect(checkRecordFits(ctx({ session: { id: 'S1', cases: cjkCases(38), itemCode: 'X1', itemName: '不动产登记' } }))).toBeNull();
    const tooBig = checkRecordFits(
      ctx({ staffId: 'S'.repeat(64), session: { id: 'S1', cases: cjkCases(38), itemCode: 'C'.repeat(64), itemName: '事'.repeat(200) } }),
    );
    expect(tooBig).toBeInstanceOf(OversizedMessageError);
    expect(tooBig!.bytes).toBeGreaterThan(MAX_BYTES.rating);
    expect(tooBig!.message).toContain('8192 bytes');
  });
});
