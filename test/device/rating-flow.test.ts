/**
 * The rating flow's rules, one test each, with a fake clock in milliseconds. This file is the
 * specification of what a citizen and the window staff see and what gets recorded.
 */
import { describe, expect, it } from 'vitest';
import { RatingFlow, type Effect, type RecordDraft } from '../../device/flow/rating-flow.js';
import type { Frame } from '../../device/display/types.js';
import { defaultDeviceConfig, type DeviceConfig } from '../../protocol/index.js';
import { rateLaterLink, receiptLink } from '../../common/receipt-link.js';

const KEY = 'k'.repeat(43);

type Timeouts = DeviceConfig['timeouts'];
const config = (over: Partial<Omit<DeviceConfig, 'timeouts'>> & { timeouts?: Partial<Timeouts> } = {}): DeviceConfig => {
  const base = defaultDeviceConfig('h', 'd', '12');
  return { ...base, ...over, timeouts: { ...base.timeouts, ...over.timeouts } };
};
const session = { id: 's1', cases: ['BJ001'], itemCode: 'X1', itemName: '不动产登记' };
const batch = { id: 's2', cases: ['BJ101', 'BJ102', 'BJ103'], itemCode: 'X2', itemName: '户籍办理' };

let n = 0;
const flowWith = (c: DeviceConfig) => new RatingFlow(c, { newId: () => `id-${++n}` });
const records = (effects: Effect[]): RecordDraft[] =>
  effects.filter((e) => e.type === 'record').map((e) => (e as Extract<Effect, { type: 'record' }>).draft);
const recordEffect = (effects: Effect[]) => effects.find((e) => e.type === 'record') as Extract<Effect, { type: 'record' }> | undefined;
const shown = (effects: Effect[]): Frame[] =>
  effects.filter((e) => e.type === 'show').map((e) => (e as Extract<Effect, { type: 'show' }>).frame);
const counted = (effects: Effect[]) =>
  effects.filter((e) => e.type === 'count').map((e) => (e as Extract<Effect, { type: 'count' }>).counter);
const reasonsFrame = (f: RatingFlow) => f.frame() as Extract<Frame, { screen: 'reasons' }>;

describe('idle and the staff card (信息牌)', () => {
  it('with no session open, the device shows the window and the staff member on duty', () => {
    const staff = { id: 'S042', name: '张三', number: '0042', photo: 'photos/S042.jpg' };
    const f = flowWith(config({ staff, windowName: '不动产登记' }));
    expect(f.frame()).toEqual({ screen: 'idle', window: '12', windowName: '不动产登记', staff });
  });

  it('a staff change pushed as config shows on the card at once', () => {
    const f = flowWith(config());
    const out = f.setConfig(config({ staff: { id: 'S7', name: '李四', number: null, photo: null } }), 0);
    expect(shown(out)[0]).toMatchObject({ screen: 'idle', staff: { name: '李四' } });
  });

  it('in walk-up mode the prompt is always open', () => {
    expect(flowWith(config({ mode: 'walk-up' })).frame().screen).toBe('prompt');
  });
});

describe('sessions and the prompt', () => {
  it('a session opens the prompt; a press rates it once, with the case numbers and the staff id', () => {
    const f = flowWith(config());
    expect(shown(f.openSession(session, 'S042', 1000))[0]).toMatchObject({ screen: 'prompt', cases: ['BJ001'] });
    const out = f.press(0, 4000);
    expect(records(out)).toEqual([{ id: expect.any(String), kind: 'rating', level: 5, reasons: [], session, staffId: 'S042', flags: [] }]);
    expect(recordEffect(out)!.thanks).toMatchObject({ screen: 'thanks', level: 5 });
    expect(f.currentSession).toBeNull();
  });

  it('a batch of cases handled together gets one rating that applies to all of them', () => {
    const f = flowWith(config());
    f.openSession(batch, 'S1', 0);
    expect(f.frame()).toMatchObject({ screen: 'prompt', cases: ['BJ101', 'BJ102', 'BJ103'] });
    const out = f.press(1, 3000);
    expect(records(out)).toHaveLength(1);
    expect(records(out)[0]!.session!.cases).toEqual(['BJ101', 'BJ102', 'BJ103']);
  });

  it('one rating per session: after the rating the session is closed, further presses do not rate it', () => {
    const f = flowWith(config());
    f.openSession(session, 'S1', 0);
    expect(records(f.press(0, 3000))[0]!.session).toEqual(session);
    expect(records(f.press(0, 4000))).toEqual([]); // a repeat
    expect(records(f.press(0, 9000))[0]).toMatchObject({ session: null, flags: ['no-session'] });
  });

  it('the thank-you names the record (a receipt) and then the staff card returns', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    const out = f.press(0, 2000);
    expect(recordEffect(out)!.thanks).toMatchObject({ ref: recordEffect(out)!.draft.id });
    expect(f.tick(4999)).toEqual([]);
    expect(shown(f.tick(5000))[0]!.screen).toBe('idle');
  });

  it('the prompt times out after 60 s as not rated, so the hub can apply the 7-day default', () => {
    const f = flowWith(config());
    f.openSession(session, 'S1', 0);
    expect(f.tick(59_999)).toEqual([]);
    const out = f.tick(60_000);
    expect(records(out)).toEqual([
      { id: expect.any(String), kind: 'not-rated', level: null, reasons: [], session, staffId: 'S1', flags: [] },
    ]);
    expect(recordEffect(out)!.thanks).toBeNull();
    expect(f.frame().screen).toBe('idle');
  });

  it('the prompt timeout is configuration', () => {
    const f = flowWith(config({ timeouts: { promptS: 10 } }));
    f.openSession(session, null, 0);
    expect(records(f.tick(10_000))[0]!.kind).toBe('not-rated');
  });

  it('a new session while the prompt is open ends the old one as not rated, and prompts for the new', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    const out = f.openSession(batch, null, 1000);
    expect(records(out)).toMatchObject([{ kind: 'not-rated', session }]);
    expect(counted(out)).toContain('sessionsReplaced');
    expect(f.currentSession!.ref).toEqual(batch);
  });

  it('the queue system can withdraw a session before anyone pressed; nothing is recorded', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    expect(records(f.cancelSession('s1'))).toEqual([]);
    expect(f.frame().screen).toBe('idle');
    expect(f.tick(120_000)).toEqual([]);
  });

  it('a withdrawal cannot take back a rating already pressed', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(3, 2000); // 不满意: on the reasons screen now
    expect(f.cancelSession('s1')).toEqual([]);
    expect(records(f.press(4, 3000))[0]).toMatchObject({ level: 2, session });
  });

  it('a session that arrives while the citizen is still picking reasons waits its turn', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(3, 2000);
    expect(f.openSession(batch, null, 2500)).toEqual([]);
    expect(f.state).toBe('reasons');
    expect(records(f.press(4, 3000))[0]!.session).toEqual(session);
    expect(shown(f.tick(6000))[0]).toMatchObject({ screen: 'prompt', cases: batch.cases });
  });
});

describe('差评 and the reasons screen', () => {
  it('levels 1–2 open the preset reasons of that level, paged across the buttons', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    expect(records(f.press(3, 2000))).toEqual([]); // not recorded yet
    const r = reasonsFrame(f);
    expect(r).toMatchObject({ screen: 'reasons', level: 2, page: 0, pages: 3 });
    expect(r.options.map((o) => o.reason?.code ?? o.action)).toEqual(['207', '208', '209', 'next', 'skip']);
    f.press(3, 3000); // 下一页
    expect(reasonsFrame(f).options.map((o) => o.reason?.code ?? o.action)).toEqual(['210', '211', '212', 'next', 'skip']);
    f.press(3, 3500);
    f.press(3, 4000); // wraps round to the first page
    expect(reasonsFrame(f).page).toBe(0);
  });

  it('非常不满意 shows the level-1 reasons, not the level-2 ones', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(4, 2000);
    expect(reasonsFrame(f).options[0]!.reason).toMatchObject({ code: '108', level: 1 });
  });

  it('the citizen picks one or more reasons and confirms; the record carries them', () => {
    const f = flowWith(config());
    f.openSession(session, 'S1', 0);
    f.press(3, 2000);
    f.press(0, 3000); // 207
    expect(reasonsFrame(f).options[0]).toMatchObject({ selected: true });
    expect(reasonsFrame(f).options[4]).toMatchObject({ action: 'done' });
    f.press(3, 3500); // next page
    f.press(1, 4000); // 211
    f.press(3, 4500);
    f.press(3, 5000); // back to page 1
    f.press(0, 5500); // 213
    f.press(0, 6000); // changed their mind: 213 off again
    const out = f.press(4, 6500);
    expect(records(out)).toEqual([
      { id: expect.any(String), kind: 'rating', level: 2, reasons: ['207', '211'], session, staffId: 'S1', flags: [] },
    ]);
    expect(recordEffect(out)!.thanks!.screen).toBe('thanks');
  });

  it('a skipped reasons screen still records the rating, flagged no-reason, with a QR code for details', () => {
    const f = flowWith(config({ feedbackUrl: 'https://hall.example.gov.cn/feedback', receiptKey: KEY }));
    f.openSession(session, null, 0);
    f.press(4, 2000);
    const qr = reasonsFrame(f).qr;
    expect(qr).toMatch(/^https:\/\/hall\.example\.gov\.cn\/feedback\/r\/id-\d+\/[\w-]{22}$/);
    const out = f.press(4, 4000); // 跳过
    const draft = records(out)[0]!;
    expect(draft).toMatchObject({ level: 1, reasons: [], flags: ['no-reason'] });
    expect(recordEffect(out)!.thanks).toMatchObject({
      screen: 'thanks',
      qr: receiptLink('https://hall.example.gov.cn/feedback', KEY, draft.id),
    });
  });

  it('a timed-out reasons screen records the rating flagged no-reason', () => {
    const f = flowWith(config({ timeouts: { reasonS: 30 } }));
    f.openSession(session, null, 0);
    f.press(3, 2000);
    expect(f.tick(31_999)).toEqual([]);
    expect(records(f.tick(32_000))[0]).toMatchObject({ level: 2, flags: ['no-reason'] });
    expect(f.state).toBe('thanks');
  });

  it('the reasons timeout counts from the last button the citizen pressed, and keeps what was picked', () => {
    const f = flowWith(config({ timeouts: { reasonS: 30 } }));
    f.openSession(session, null, 0);
    f.press(3, 2000);
    f.press(2, 20_000); // 209
    expect(f.tick(49_999)).toEqual([]);
    expect(records(f.tick(50_000))[0]).toMatchObject({ reasons: ['209'], flags: [] });
  });

  it('the prompt timeout does not cut off a citizen who is picking reasons', () => {
    const f = flowWith(config({ timeouts: { promptS: 10, reasonS: 30 } }));
    f.openSession(session, null, 0);
    f.press(3, 9000);
    expect(f.tick(20_000)).toEqual([]);
    expect(f.state).toBe('reasons');
  });

  it('a quick second press of the same 差评 button is a repeat, not a choice, and the record says so', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(4, 2000); // 非常不满意; on the reasons screen button 5 is 跳过
    expect(counted(f.press(4, 2300))).toEqual(['pressesRepeated']);
    expect(f.state).toBe('reasons');
    f.press(0, 4000); // 108
    expect(records(f.press(4, 5000))[0]).toMatchObject({ level: 1, reasons: ['108'], flags: ['repeated'] });
  });

  it('a level whose catalogue has no reasons is recorded at once, flagged no-reason', () => {
    const f = flowWith(config({ catalogue: { version: 'empty', reasons: [] } }));
    f.openSession(session, null, 0);
    expect(records(f.press(3, 2000))[0]).toMatchObject({ level: 2, flags: ['no-reason'] });
  });

  it('without a receipt key from the hub the device shows no QR (a link the hub cannot verify would only lead to an error page)', () => {
    const f = flowWith(config({ feedbackUrl: 'https://x.example/f' }));
    f.openSession(session, null, 0);
    expect((f.frame() as Extract<Frame, { screen: 'prompt' }>).qr).toBeUndefined();
    f.press(4, 2000);
    expect(reasonsFrame(f).qr).toBeNull();
  });

  it('the prompt of a session offers a signed "rate later" QR naming the device, never the session id', () => {
    const f = flowWith(config({ feedbackUrl: 'https://x.example/c/', receiptKey: KEY }));
    f.openSession(session, null, 0);
    const qr = (f.frame() as Extract<Frame, { screen: 'prompt' }>).qr!;
    expect(qr).toBe(rateLaterLink('https://x.example/c/', KEY, 'd', session.id));
    expect(qr).toMatch(/^https:\/\/x\.example\/c\/s\/d\/[\w-]{22}$/);
    expect(qr).not.toContain(session.id);
  });

  it('good levels need no reasons and no QR code', () => {
    const f = flowWith(config({ feedbackUrl: 'https://x.example/f', receiptKey: KEY }));
    f.openSession(session, null, 0);
    const out = f.press(2, 2000);
    expect(records(out)[0]).toMatchObject({ level: 3, reasons: [], flags: [] });
    expect(recordEffect(out)!.thanks).toMatchObject({ qr: null });
  });
});

describe('abuse signals: flagged, never hidden', () => {
  it('presses within the repeat interval (default 5 s) after a rating are ignored and counted', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    expect(records(f.press(1, 3000))).toHaveLength(1);
    expect(f.press(1, 5000)).toEqual([{ type: 'count', counter: 'pressesRepeated' }]);
    expect(f.press(0, 7999)).toEqual([{ type: 'count', counter: 'pressesRepeated' }]);
    expect(records(f.press(1, 8000))).toHaveLength(1);
  });

  it('the repeat interval is configuration', () => {
    const f = flowWith(config({ mode: 'walk-up', timeouts: { repeatIntervalS: 1 } }));
    f.press(0, 0);
    expect(counted(f.press(0, 999))).toEqual(['pressesRepeated']);
    expect(records(f.press(0, 1000))).toHaveLength(1);
  });

  it("a new session is not blocked by the last citizen's repeat interval", () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(0, 2000);
    f.openSession(batch, null, 3000);
    expect(records(f.press(0, 4500))[0]).toMatchObject({ session: batch, flags: [] });
  });

  it('a press sooner than tooSoonS after the prompt appears is flagged as a possible staff press', () => {
    const f = flowWith(config({ timeouts: { tooSoonS: 1 } }));
    f.openSession(session, null, 0);
    expect(records(f.press(0, 999))[0]!.flags).toEqual(['too-soon']);
    f.openSession(batch, null, 10_000);
    expect(records(f.press(0, 11_000))[0]!.flags).toEqual([]);
  });

  it('a too-soon 差评 keeps its flag through the reasons screen', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(3, 100);
    expect(records(f.press(4, 5000))[0]!.flags).toEqual(['too-soon', 'no-reason']);
  });

  it('in session mode a press with no open session is recorded, flagged no-session, not dropped', () => {
    const f = flowWith(config());
    expect(records(f.press(2, 0))[0]).toMatchObject({ kind: 'rating', level: 3, session: null, flags: ['no-session'] });
  });

  it('in walk-up mode presses are flagged walk-up and carry the staff on duty', () => {
    const f = flowWith(config({ mode: 'walk-up', staff: { id: 'S9', name: '王五', number: null, photo: null } }));
    expect(records(f.press(0, 0))[0]).toMatchObject({ session: null, staffId: 'S9', flags: ['walk-up'] });
  });

  it('a button that maps to no level is counted', () => {
    const f = flowWith(config());
    expect(f.press(7, 0)).toEqual([{ type: 'count', counter: 'pressesUnmapped' }]);
  });
});

describe('paused', () => {
  it('presses while paused are ignored and counted', () => {
    const f = flowWith(config({ paused: true }));
    expect(f.frame()).toMatchObject({ screen: 'paused', text: '暂停服务' });
    expect(f.press(0, 10_000)).toEqual([{ type: 'count', counter: 'pressesWhilePaused' }]);
  });

  it('pausing ends an open session as not rated', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    const out = f.setConfig(config({ paused: true }), 1000);
    expect(records(out)[0]?.kind).toBe('not-rated');
    expect(f.frame().screen).toBe('paused');
  });

  it('pausing while a citizen picks reasons records their rating, not loses it', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(3, 2000);
    f.press(0, 3000);
    const out = f.setConfig(config({ paused: true }), 4000);
    expect(records(out)[0]).toMatchObject({ kind: 'rating', level: 2, reasons: ['207'] });
    expect(f.state).toBe('paused');
  });

  it('a session opened while paused is reported not rated at once and counted', () => {
    const f = flowWith(config({ paused: true }));
    const out = f.openSession(session, 'S1', 0);
    expect(counted(out)).toEqual(['sessionsWhilePaused']);
    expect(records(out)).toMatchObject([{ kind: 'not-rated', session }]);
    expect(f.state).toBe('paused');
  });

  it('resuming shows the staff card again', () => {
    const f = flowWith(config({ paused: true }));
    expect(shown(f.setConfig(config(), 0))[0]!.screen).toBe('idle');
  });
});

describe('button count and map are configuration', () => {
  it('a 3-button hall (满意/基本满意/不满意) uses the same code', () => {
    const f = flowWith(config({ mode: 'walk-up', buttons: [4, 3, 2] }));
    expect(f.frame()).toMatchObject({
      screen: 'prompt',
      levels: [
        { level: 4, label: '满意' },
        { level: 3, label: '基本满意' },
        { level: 2, label: '不满意' },
      ],
    });
    expect(records(f.press(0, 0))[0]).toMatchObject({ level: 4 });
    expect(f.press(3, 10_000)).toEqual([{ type: 'count', counter: 'pressesUnmapped' }]);
  });

  it('on 3 buttons the reasons page one at a time: reason, 下一页, 确认/跳过', () => {
    const f = flowWith(config({ mode: 'walk-up', buttons: [4, 3, 2] }));
    f.press(2, 0);
    const r = reasonsFrame(f);
    expect(r.pages).toBe(8);
    expect(r.options.map((o) => o.reason?.code ?? o.action)).toEqual(['207', 'next', 'skip']);
    f.press(1, 2000);
    f.press(0, 2500); // 208
    expect(records(f.press(2, 3000))[0]).toMatchObject({ level: 2, reasons: ['208'], flags: ['walk-up'] });
  });

  it('a reversed map works too: the button, not its position, decides the level', () => {
    const f = flowWith(config({ mode: 'walk-up', buttons: [1, 2, 3, 4, 5] }));
    expect(records(f.press(4, 0))[0]!.level).toBe(5);
  });

  it('when the reasons fit on one page there is no page button', () => {
    const few = {
      version: 'few',
      reasons: [
        { code: '207', level: 2 as const, text: 'a' },
        { code: '208', level: 2 as const, text: 'b' },
      ],
    };
    const f = flowWith(config({ mode: 'walk-up', catalogue: few }));
    f.press(3, 0);
    expect(reasonsFrame(f).options.map((o) => o.reason?.code ?? o.action ?? null)).toEqual(['207', '208', null, null, 'skip']);
    expect(counted(f.press(2, 2000))).toEqual(['pressesUnmapped']);
  });
});

describe('out of service: the outbox cannot take the record', () => {
  it('shows out-of-service; presses are ignored and counted until it is back in service', () => {
    const f = flowWith(config());
    expect(shown(f.outOfService('outbox-full'))[0]).toMatchObject({ screen: 'out-of-service', fault: 'outbox-full' });
    expect(f.press(0, 1000)).toEqual([{ type: 'count', counter: 'pressesOutOfService' }]);
    expect(counted(f.openSession(session, null, 1000))).toEqual(['sessionsWhileOutOfService']);
    expect(shown(f.backInService())[0]!.screen).toBe('idle');
    expect(records(f.press(0, 10_000))).toHaveLength(1);
  });
});

describe('the thank-you screen', () => {
  it('a session that arrives while thank-you shows ends it and prompts at once: the last citizen is done', () => {
    const f = flowWith(config());
    f.openSession(session, null, 0);
    f.press(0, 2000);
    expect(shown(f.openSession(batch, null, 2500))[0]).toMatchObject({ screen: 'prompt', cases: batch.cases });
  });
});

describe('a config pushed while the thank-you shows', () => {
  it('keeps the level, the receipt reference and the feedback QR on the redrawn thank-you', () => {
    const c = config({ feedbackUrl: 'https://hall.example/feedback', receiptKey: KEY });
    const f = flowWith(c);
    f.openSession(session, 'S1', 0);
    f.press(4, 1000); // 非常不满意: the reasons screen
    const rated = recordEffect(f.press(4, 2000))!; // 跳过
    expect(rated.thanks).toMatchObject({
      screen: 'thanks',
      level: 1,
      ref: rated.draft.id,
      qr: expect.stringContaining(`/r/${rated.draft.id}/`),
    });
    const redrawn = shown(f.setConfig({ ...c, prompts: { ...c.prompts, thanks: '谢谢您的评价！' } }, 1500));
    expect(redrawn).toEqual([{ ...rated.thanks, text: '谢谢您的评价！' }]);
  });

  it('an unchanged config (the hub resends it on every reconnect) does not redraw the panel', () => {
    const f = flowWith(config());
    f.openSession(session, 'S1', 0);
    f.press(0, 1000);
    expect(shown(f.setConfig(config(), 1500))).toEqual([]);
    expect(f.frame()).toMatchObject({ screen: 'thanks', level: 5 });
  });
});
