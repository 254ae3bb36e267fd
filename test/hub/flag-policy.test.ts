/** The flag policy: what a flag does to a rating (count, count-but-flag, exclude), decided once and purely. */
import { describe, expect, it } from 'vitest';
import { decideFlags, effectiveFlags, FlagPolicySchema, shownFlags } from '../../hub/policy/flag-policy.js';

describe('the flag policy decides, per hall, what a flag does to a rating', () => {
  it('by default, a press in session mode with no session the hub opened is kept but neither counted nor forwarded', () => {
    expect(decideFlags({ deviceFlags: ['no-session'], mode: 'session', hubSession: false })).toEqual({
      action: 'exclude',
      flags: ['no-session'],
      because: ['no-session'],
      shown: ['no-session'],
    });
  });

  it('by default, the same press on a walk-up device counts', () => {
    expect(decideFlags({ deviceFlags: ['walk-up'], mode: 'walk-up', hubSession: false })).toEqual({
      action: 'count',
      flags: ['walk-up'],
      because: [],
      shown: [],
    });
  });

  it("sessionless is the hub's truth: a session-mode device that does not say no-session is still sessionless", () => {
    expect(decideFlags({ deviceFlags: [], mode: 'session', hubSession: false }).action).toBe('exclude');
  });

  it('a device with a stale config saying no-session counts where the hub runs it walk-up', () => {
    expect(decideFlags({ deviceFlags: ['no-session'], mode: 'walk-up', hubSession: false })).toMatchObject({
      action: 'count',
      flags: ['walk-up'],
    });
  });

  it('a rating for a session the hub opened is not sessionless, whatever the device claims', () => {
    expect(effectiveFlags({ deviceFlags: ['no-session', 'too-soon'], mode: 'session', hubSession: true })).toEqual(['too-soon']);
  });

  it('too-soon and repeated are counted but flagged by default', () => {
    expect(decideFlags({ deviceFlags: ['too-soon', 'repeated'], mode: 'session', hubSession: true })).toEqual({
      action: 'flag',
      flags: ['repeated', 'too-soon'],
      because: ['repeated', 'too-soon'],
      shown: ['repeated', 'too-soon'],
    });
  });

  it('a 差评 without a reason is counted as it is', () => {
    expect(decideFlags({ deviceFlags: ['no-reason'], mode: 'session', hubSession: true }).action).toBe('count');
  });

  it("the strictest action of a record's flags wins", () => {
    const d = decideFlags({ deviceFlags: ['too-soon'], mode: 'session', hubSession: false });
    expect(d).toEqual({ action: 'exclude', flags: ['no-session', 'too-soon'], because: ['no-session'], shown: ['no-session', 'too-soon'] });
  });

  it('the hall can change each flag: count sessionless presses, exclude too-soon ones', () => {
    const policy = { 'no-session': 'flag', 'too-soon': 'exclude' } as const;
    expect(decideFlags({ deviceFlags: [], mode: 'session', hubSession: false }, policy).action).toBe('flag');
    expect(decideFlags({ deviceFlags: ['too-soon'], mode: 'session', hubSession: true }, policy).action).toBe('exclude');
    expect(decideFlags({ deviceFlags: ['too-soon'], mode: 'session', hubSession: true }, { 'too-soon': 'count' }).action).toBe('count');
  });

  it('flags the hub adds itself go through the same policy; an unknown flag is shown and counted', () => {
    expect(decideFlags({ deviceFlags: [], hubFlags: ['attribution-mismatch'], mode: 'session', hubSession: true })).toMatchObject({
      action: 'flag',
      flags: ['attribution-mismatch'],
    });
    expect(
      decideFlags({ deviceFlags: [], hubFlags: ['rate-exceeded'], mode: 'session', hubSession: true }, { 'rate-exceeded': 'exclude' })
        .action,
    ).toBe('exclude');
  });

  it('only flags whose action is not plain count are shown as flagged', () => {
    expect(shownFlags(['walk-up', 'too-soon', 'no-reason'])).toEqual(['too-soon']);
  });

  it('the setting names each flag with one of count / flag / exclude', () => {
    expect(FlagPolicySchema.safeParse({ 'no-session': 'ignore' }).success).toBe(false);
    expect(FlagPolicySchema.safeParse({ 'No Session': 'count' }).success).toBe(false);
    expect(FlagPolicySchema.parse({ 'no-session': 'count' })).toEqual({ 'no-session': 'count' });
  });
});
