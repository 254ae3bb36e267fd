import { describe, expect, it } from 'vitest';
import { RatingFlow, type Effect } from '../../device/flow/rating-flow.js';
import { defaultDeviceConfig, type DeviceConfig } from '../../protocol/index.js';

const config = (over: Partial<DeviceConfig> = {}): DeviceConfig => ({ ...defaultDeviceConfig('h', 'd', '12'), ...over });
const session = { id: 's1', cases: ['BJ001', 'BJ002'], itemCode: 'X1', itemName: '不动产登记' };
const records = (effects: Effect[]) => effects.filter((e) => e.type === 'record').map((e) => (e as Extract<Effect, { type: 'record' }>).draft);

describe('the rating flow (fake clock, ms)', () => {
  it('a session opens the prompt; a press rates it, once, with the session\'s cases and staff', () => {
    const f = new RatingFlow(config());
    expect(f.frame().screen).toBe('idle');
    f.openSession(session, 'S042', 1000);
    expect(f.frame()).toMatchObject({ screen: 'prompt', cases: ['BJ001', 'BJ002'] });
    const out = f.press(0, 4000);
    expect(records(out)).toEqual([{ kind: 'rating', level: 5, reasons: [], session, staffId: 'S042', flags: [] }]);
    const thanks = out.find((e) => e.type === 'record') as Extract<Effect, { type: 'record' }>;
    expect(thanks.thanks?.screen).toBe('thanks');
    expect(f.currentSession).toBeNull();
  });

  it('presses within the repeat interval are ignored and counted', () => {
    const f = new RatingFlow(config());
    f.openSession(session, null, 0);
    expect(records(f.press(1, 3000))).toHaveLength(1);
    expect(f.press(1, 5000)).toEqual([{ type: 'count', counter: 'pressesRepeated' }]);
    expect(records(f.press(1, 8001))).toHaveLength(1); // after 5 s it is a new press (flagged: no session)
  });

  it('a press too soon after the prompt appears is flagged as a possible staff press', () => {
    const f = new RatingFlow(config());
    f.openSession(session, null, 0);
    expect(records(f.press(0, 200))[0]!.flags).toContain('too-soon');
  });

  it('a press with no open session is recorded, flagged, not dropped', () => {
    const f = new RatingFlow(config());
    expect(records(f.press(2, 0))[0]).toMatchObject({ level: 3, session: null, flags: ['no-session'] });
  });

  it('a 差评 without a reason screen is flagged no-reason', () => {
    const f = new RatingFlow(config());
    f.openSession(session, null, 0);
    expect(records(f.press(4, 3000))[0]).toMatchObject({ level: 1, flags: ['no-reason'] });
  });

  it('the prompt times out after 60 s as not rated, so the hub can apply the default', () => {
    const f = new RatingFlow(config());
    f.openSession(session, 'S1', 0);
    expect(f.tick(59_999)).toEqual([]);
    expect(records(f.tick(60_000))).toEqual([{ kind: 'not-rated', level: null, reasons: [], session, staffId: 'S1', flags: [] }]);
    expect(f.frame().screen).toBe('idle');
  });

  it('paused: presses are ignored and counted; pausing ends an open session as not rated', () => {
    const f = new RatingFlow(config());
    f.openSession(session, null, 0);
    const out = f.setConfig(config({ paused: true }));
    expect(records(out)[0]?.kind).toBe('not-rated');
    expect(f.frame().screen).toBe('paused');
    expect(f.press(0, 10_000)).toEqual([{ type: 'count', counter: 'pressesWhilePaused' }]);
  });

  it('three-button halls use the same code', () => {
    const f = new RatingFlow(config({ mode: 'walk-up', buttons: [4, 3, 2] }));
    expect(f.frame()).toMatchObject({ screen: 'prompt', levels: [{ level: 4 }, { level: 3 }, { level: 2 }] });
    expect(records(f.press(2, 0))[0]).toMatchObject({ level: 2, flags: ['walk-up', 'no-reason'] });
    expect(f.press(3, 10_000)).toEqual([{ type: 'count', counter: 'pressesUnmapped' }]);
  });
});
