/**
 * The rating flow's preset content for every level (Hubei art. 13) and the "差评 needs a reason"
 * policy (Ankang art. 8), with a fake clock in milliseconds, in the style of rating-flow.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RatingFlow, type Effect, type RecordDraft } from '../../device/flow/rating-flow.js';
import type { Frame } from '../../device/display/types.js';
import { defaultDeviceConfig, type DeviceConfig } from '../../protocol/index.js';

const config = (over: Partial<DeviceConfig> = {}): DeviceConfig => ({ ...defaultDeviceConfig('h', 'd', '12'), ...over });
const session = { id: 's1', cases: ['BJ001'], itemCode: 'X1', itemName: '不动产登记' };

let n = 0;
const flowWith = (c: DeviceConfig) => new RatingFlow(c, { newId: () => `id-${++n}` });
const records = (effects: Effect[]): RecordDraft[] =>
  effects.filter((e) => e.type === 'record').map((e) => (e as Extract<Effect, { type: 'record' }>).draft);
const counted = (effects: Effect[]) =>
  effects.filter((e) => e.type === 'count').map((e) => (e as Extract<Effect, { type: 'count' }>).counter);
const reasonsFrame = (f: RatingFlow) => f.frame() as Extract<Frame, { screen: 'reasons' }>;
const thanks = (effects: Effect[]) => (effects.find((e) => e.type === 'record') as Extract<Effect, { type: 'record' }>).thanks;

describe('preset content for every level (Hubei art. 13)', () => {
  it('by default only the 差评 levels have a reasons screen: a good level is recorded at once', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    expect(records(f.press(0, 2000))[0]).toMatchObject({ level: 5, reasons: [] });
  });

  it("a hall that lists a good level shows that level's content after it; the citizen picks and confirms", () => {
    const f = flowWith(config({ reasonsAfter: [5, 4, 2, 1] }));
    f.openSession(session, 'S1', 0);
    expect(records(f.press(0, 2000))).toEqual([]); // 非常满意: its content first
    const r = reasonsFrame(f);
    expect(r).toMatchObject({ screen: 'reasons', level: 5, text: '请选择符合您感受的评价内容（可跳过）', qr: null });
    expect(r.options[0]!.reason).toMatchObject({ code: '510', level: 5 });
    f.press(1, 3000); // 511
    const out = f.press(4, 3500);
    expect(records(out)).toEqual([
      { id: expect.any(String), kind: 'rating', level: 5, reasons: ['511'], session, staffId: 'S1', flags: [] },
    ]);
    expect(thanks(out)).toMatchObject({ screen: 'thanks', level: 5, qr: null });
  });

  it('content after a good level is optional: a skip or a timeout records the rating without a no-reason flag', () => {
    const f = flowWith(config({ reasonsAfter: [4], timeouts: { ...config().timeouts, reasonS: 10 } }));
    f.openSession(session, null, 0);
    f.press(1, 1000);
    expect(records(f.press(4, 2000))[0]).toMatchObject({ level: 4, reasons: [], flags: [] });
    f.openSession({ ...session, id: 's2' }, null, 10_000);
    f.press(1, 11_000);
    expect(records(f.tick(21_000))[0]).toMatchObject({ level: 4, reasons: [], flags: [] });
  });

  it('a level not listed shows no content, even a good one whose catalogue has some', () => {
    const f = flowWith(config({ reasonsAfter: [5, 2, 1] }));
    f.openSession(session, null, 0);
    expect(records(f.press(2, 2000))[0]).toMatchObject({ level: 3, reasons: [] });
  });

  it('a hall that takes the 差评 levels out of the list records a 差评 at once, flagged no-reason', () => {
    const f = flowWith(config({ reasonsAfter: [5] }));
    f.openSession(session, null, 0);
    expect(records(f.press(3, 2000))[0]).toMatchObject({ level: 2, reasons: [], flags: ['no-reason'] });
  });

  it('the good-level heading is configuration', () => {
    const f = flowWith(config({ reasonsAfter: [5], prompts: { ...config().prompts, goodReasons: '您满意哪些方面？' } }));
    f.openSession(session, null, 0);
    f.press(0, 2000);
    expect(reasonsFrame(f).text).toBe('您满意哪些方面？');
  });
});

describe('a 差评 needs a reason or text (Ankang art. 8)', () => {
  it('the first skip with nothing picked asks once more, with the QR code for text; the second skip is accepted, flagged no-reason', () => {
    const f = flowWith(config({ reasonRequired: true, feedbackUrl: 'https://hall.example.gov.cn/f', receiptKey: 'k'.repeat(43) }));
    f.openSession(session, null, 0);
    f.press(3, 2000); // 不满意
    const first = f.press(4, 4000); // 跳过
    expect(records(first)).toEqual([]);
    expect(counted(first)).toEqual(['reasonAskedAgain']);
    expect(reasonsFrame(f)).toMatchObject({
      screen: 'reasons',
      level: 2,
      text: expect.stringContaining('再按「跳过」'),
      qr: expect.stringContaining('https://hall.example.gov.cn/f'),
    });
    expect(f.state).toBe('reasons');
    const second = f.press(4, 6000);
    expect(records(second)[0]).toMatchObject({ level: 2, reasons: [], flags: ['no-reason'] });
  });

  it('asked once more, the citizen picks a reason: recorded with it, no flag', () => {
    const f = flowWith(config({ reasonRequired: true }));
    f.openSession(session, null, 0);
    f.press(4, 2000); // 非常不满意
    f.press(4, 4000); // 跳过 → asked again
    f.press(0, 5000); // 108
    expect(reasonsFrame(f).options[4]).toMatchObject({ action: 'done' });
    expect(records(f.press(4, 6000))[0]).toMatchObject({ level: 1, reasons: ['108'], flags: [] });
  });

  it('it asks only once per rating, and not at all when the policy is off', () => {
    const on = flowWith(config({ reasonRequired: true }));
    on.openSession(session, null, 0);
    on.press(3, 2000);
    on.press(4, 3000);
    expect(records(on.press(4, 4000))).toHaveLength(1);
    const off = flowWith(config());
    off.openSession(session, null, 0);
    off.press(3, 2000);
    expect(records(off.press(4, 3000))[0]).toMatchObject({ flags: ['no-reason'] });
  });

  it('a citizen who walked away is not waited for: the reasons timeout still records the 差评, flagged', () => {
    const f = flowWith(config({ reasonRequired: true, timeouts: { ...config().timeouts, reasonS: 30 } }));
    f.openSession(session, null, 0);
    f.press(3, 2000);
    expect(records(f.tick(32_000))[0]).toMatchObject({ level: 2, flags: ['no-reason'] });
  });

  it('good levels are never asked for a reason', () => {
    const f = flowWith(config({ reasonRequired: true, reasonsAfter: [5, 2, 1] }));
    f.openSession(session, null, 0);
    f.press(0, 2000);
    expect(records(f.press(4, 3000))[0]).toMatchObject({ level: 5, reasons: [], flags: [] });
  });
});
