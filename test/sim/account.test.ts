import { describe, expect, it } from 'vitest';
import { computeAccount, type Ledger, type ProvinceEntry } from '../../simulator/account.js';
import type { StoredReport } from '../../simulator/devices/sim-device.js';

const report = (device: string, seq: number, level = 5, reasons: string[] = []): StoredReport => ({
  device,
  id: `${device}-${seq}`,
  seq,
  kind: 'rating',
  level,
  reasons,
  session: null,
  flags: [],
});
const entry = (r: StoredReport, over: Partial<NonNullable<ProvinceEntry['record']>> = {}): ProvinceEntry => ({
  id: r.id,
  kind: 'rating',
  received: 1,
  record: { id: r.id, device: r.device, seq: r.seq, level: r.level, reasons: r.reasons, session: r.session, flags: r.flags, ...over },
});
const ledger = (thanked: StoredReport[]): Ledger => ({
  thanked: new Map(thanked.map((r) => [r.id, r])),
  notRated: 0,
  sessions: 0,
  attempts: 0,
  outOfService: 0,
});
const account = (thanked: StoredReport[], province: ProvinceEntry[]) =>
  computeAccount({
    devices: ['a', 'b'],
    ledger: ledger(thanked),
    province,
    hub: { ratings: province.length, rejections: { duplicate: 3 }, gaps: 0 },
    provinceDuplicatesReceived: 0,
    drained: true,
    seconds: 1,
  });

describe('the account, from the citizen side', () => {
  it('counts a thanked press missing at the province as lost', () => {
    const [a1, a2] = [report('a', 1), report('a', 2)];
    expect(account([a1, a2], [entry(a1)])).toMatchObject({ pressed: 2, forwarded: 1, lost: 1, duplicated: 0 });
  });

  it('counts the same device record accepted twice as duplicated, also when it was never reported', () => {
    const a1 = report('a', 1);
    const b7 = report('b', 7); // committed, then the device was killed before it said so
    const a = account([a1], [entry(a1), { ...entry(a1), id: 'other-id' }, entry(b7), entry(b7)]);
    expect(a).toMatchObject({ lost: 0, duplicated: 2, unreported: 1 });
  });

  it('a record committed but killed before its thank-you was reported is unreported, not lost', () => {
    const a1 = report('a', 1);
    expect(account([], [entry(a1)])).toMatchObject({ pressed: 0, lost: 0, duplicated: 0, unreported: 1 });
  });

  it('notices a rating that arrived with another level or other reasons', () => {
    const a1 = report('a', 1, 2, ['207']);
    expect(account([a1], [entry(a1, { reasons: ['213'] })]).altered).toBe(1);
    expect(account([a1], [entry(a1, { level: 5 })]).altered).toBe(1);
    expect(account([a1], [entry(a1)]).altered).toBe(0);
  });

  it('counts defaults, ignores other devices, and does not count hub duplicates as rejections', () => {
    const a1 = report('a', 1);
    const a = account([a1], [entry(a1), entry(report('zz', 1)), { id: 'd1', kind: 'default', received: 1, record: null }]);
    expect(a).toMatchObject({ forwarded: 1, defaulted: 1, unreported: 0, rejected: 0 });
  });
});

describe('the account of the citizen page', () => {
  const r = report('a', 1, 1);
  const followUp = (n: string, follows: string): ProvinceEntry => ({
    id: n,
    kind: 'follow-up',
    received: 1,
    record: null,
    follows,
    channel: 'qr',
  });
  const late = (n: string, session: string): ProvinceEntry => ({
    id: n,
    kind: 'rating',
    received: 1,
    record: null,
    channel: 'qr',
    sessionId: session,
  });
  const withScans = (province: ProvinceEntry[], followUps: string[], lates: string[]) =>
    computeAccount({
      devices: ['a'],
      ledger: { ...ledger([r]), scans: { followUps: new Set(followUps), late: new Set(lates) } },
      province,
      hub: { ratings: 1, rejections: {}, gaps: 0 },
      provinceDuplicatesReceived: 0,
      drained: true,
      seconds: 1,
    });

  it('an accepted scan at the province once is counted there, not as a press', () => {
    const a = withScans([entry(r), followUp('f1', r.id), late('q1', 's1')], [r.id], ['s1']);
    expect(a).toMatchObject({ pressed: 1, forwarded: 1, lost: 0, duplicated: 0, scanned: { followUps: 1, late: 1, atProvince: 2 } });
  });

  it('an accepted scan missing at the province is lost; two follow-ups of one receipt are a duplicate', () => {
    expect(withScans([entry(r)], [r.id], ['s1'])).toMatchObject({ lost: 2, scanned: { atProvince: 0 } });
    expect(withScans([entry(r), followUp('f1', r.id), followUp('f2', r.id)], [r.id], [])).toMatchObject({ lost: 0, duplicated: 1 });
  });
});
