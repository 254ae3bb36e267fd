/**
 * The 差评 work order rules as a specification: every state change and every deadline of the
 * three seed profiles, with fake times and the real holiday calendar.
 */
import { describe, expect, it } from 'vitest';
import { WorkingDayCalendar } from '../../hub/calendar/working-days.js';
import {
  allowedActions,
  decide,
  isOverdue,
  newOrder,
  type Actor,
  type Command,
  type Order,
  type Policy,
} from '../../hub/workorders/machine.js';
import { PROFILES, deadline } from '../../hub/workorders/policy.js';

const cal = new WorkingDayCalendar();
const china = (s: string) => Date.parse(s + '+08:00');
const policy = (id: keyof typeof PROFILES): Policy => ({ profile: PROFILES[id], calendar: cal });
const sup: Actor = { name: 'zhang', role: 'supervisor' };
const admin: Actor = { name: 'li', role: 'admin' };
const viewer: Actor = { name: 'wall', role: 'viewer' };

function run(p: Policy, o: Order, steps: [Command, Actor, string][]): Order {
  for (const [cmd, actor, at] of steps) {
    const d = decide(o, cmd, actor, china(at), p);
    if (!d.ok) throw d.refusal;
    o = d.next;
  }
  return o;
}
function refusal(p: Policy, o: Order, cmd: Command, actor: Actor, at: string) {
  const d = decide(o, cmd, actor, china(at), p);
  if (d.ok) throw new Error(`expected ${cmd.type} to be refused, got state ${d.next.state}`);
  return d.refusal.code;
}

describe('Ankang profile (working days, from receipt)', () => {
  const p = policy('ankang');
  // Received Wed 30 Sep 2026, the day before 国庆 (Oct 1–7 off, Sat Oct 10 is a working day).
  const received = '2026-09-30T10:00:00';
  const fresh = () => newOrder(china(received), p).order;

  it('a new order must be verified within 2 working days of receipt: by the end of Fri 9 Oct', () => {
    const o = fresh();
    expect(o.state).toBe('new');
    expect(o.dueAt).toBe(china('2026-10-10T00:00:00'));
    expect(isOverdue(o, china('2026-10-09T23:59:59'))).toBe(false);
    expect(isOverdue(o, china('2026-10-10T00:00:01'))).toBe(true);
  });

  it('simple 5, general 10, consultation 15 working days from receipt', () => {
    const at = (cls: 'simple' | 'general' | 'consultation') =>
      run(p, fresh(), [[{ type: 'confirm', class: cls }, sup, '2026-10-08T09:00:00']]);
    expect(at('simple').dueAt).toBe(china('2026-10-14T00:00:00')); // Oct 8, 9, 10(调休), 12, 13
    expect(at('general').dueAt).toBe(china('2026-10-21T00:00:00')); // … 14, 15, 16, 19, 20
    expect(at('consultation').dueAt).toBe(china('2026-10-28T00:00:00')); // … 21, 22, 23, 26, 27
    expect(at('simple')).toMatchObject({ state: 'rectifying', class: 'simple', handleDueAt: china('2026-10-14T00:00:00'), lateStages: 0 });
  });

  it('walks new → verifying → rectifying → revisit → closed, each stage with its limit', () => {
    let o = run(p, fresh(), [[{ type: 'start-verify' }, sup, '2026-10-08T09:00:00']]);
    expect(o).toMatchObject({ state: 'verifying', dueAt: china('2026-10-10T00:00:00'), version: 2 });
    o = run(p, o, [[{ type: 'confirm', class: 'general', note: '属实' }, sup, '2026-10-09T09:00:00']]);
    expect(o).toMatchObject({ state: 'rectifying', dueAt: china('2026-10-21T00:00:00') });
    o = run(p, o, [[{ type: 'rectify', note: '已培训' }, sup, '2026-10-15T09:00:00']]);
    expect(o.state).toBe('revisit');
    expect(o.dueAt).toBe(china('2026-10-23T00:00:00')); // revisit within 5 working days: 16, 19, 20, 21, 22
    o = run(p, o, [[{ type: 'revisit', satisfied: true, note: '满意' }, sup, '2026-10-16T09:00:00']]);
    expect(o).toMatchObject({ state: 'closed', outcome: 'resolved', dueAt: null, lateStages: 0, version: 5 });
    expect(allowedActions(o, 'admin')).toEqual([]);
    expect(refusal(p, o, { type: 'comment', note: 'x' }, admin, '2026-10-17T09:00:00')).toBe('invalid-transition');
  });

  it('counts a stage finished after its limit as late', () => {
    const o = run(p, fresh(), [[{ type: 'confirm', class: 'simple' }, sup, '2026-10-12T09:00:00']]);
    expect(o.lateStages).toBe(1);
    const done = decide(o, { type: 'rectify', note: 'x' }, sup, china('2026-10-14T08:00:00'), p);
    expect(done.ok && done.event.data.late).toBe(true);
  });

  it('one extension of at most 5 working days, asked for within 5 working days of receipt', () => {
    const o = run(p, fresh(), [[{ type: 'confirm', class: 'simple' }, sup, '2026-10-08T09:00:00']]);
    expect(refusal(p, o, { type: 'extend', amount: 6, note: '需协调' }, sup, '2026-10-09T09:00:00')).toBe('invalid-input');
    expect(refusal(p, o, { type: 'extend', amount: 3, note: '' }, sup, '2026-10-09T09:00:00')).toBe('invalid-input');
    const ext = run(p, o, [[{ type: 'extend', amount: 5, note: '需协调' }, sup, '2026-10-09T09:00:00']]);
    expect(ext).toMatchObject({ state: 'rectifying', extensions: 1, dueAt: china('2026-10-21T00:00:00') }); // Oct 13 + 14, 15, 16, 19, 20
    expect(refusal(p, ext, { type: 'extend', amount: 1, note: '再延' }, sup, '2026-10-09T10:00:00')).toBe('limit-reached');
    // After the 5th working day from receipt (Oct 13) it is too late to ask.
    expect(refusal(p, o, { type: 'extend', amount: 2, note: '需协调' }, sup, '2026-10-14T09:00:00')).toBe('too-late');
  });

  it('an appeal within 2 working days; the review within 5; the appellant may not judge; a supervisor may not judge', () => {
    expect(refusal(p, fresh(), { type: 'appeal', note: '误按' }, sup, '2026-10-10T08:00:00')).toBe('too-late');
    expect(refusal(p, fresh(), { type: 'appeal', note: '  ' }, sup, '2026-10-08T08:00:00')).toBe('invalid-input');
    const appealed = run(p, fresh(), [[{ type: 'appeal', note: '监控显示系误按' }, admin, '2026-10-09T16:00:00']]);
    expect(appealed).toMatchObject({ state: 'appealed', appealedBy: 'li', dueAt: china('2026-10-16T00:00:00') }); // 10, 12, 13, 14, 15
    expect(refusal(p, appealed, { type: 'judge', outcome: 'invalid', note: '成立' }, admin, '2026-10-12T09:00:00')).toBe('own-appeal');
    expect(refusal(p, appealed, { type: 'judge', outcome: 'invalid', note: '成立' }, sup, '2026-10-12T09:00:00')).toBe('forbidden');
    expect(allowedActions(appealed, 'supervisor')).toEqual(['comment']);
    expect(allowedActions(appealed, 'admin')).toEqual(['judge', 'comment']);
  });

  it('appeal judged invalid: the order ends as invalid', () => {
    const o = run(p, fresh(), [
      [{ type: 'appeal', note: '误按' }, sup, '2026-10-08T09:00:00'],
      [{ type: 'judge', outcome: 'invalid', note: '属误评' }, admin, '2026-10-12T09:00:00'],
    ]);
    expect(o).toMatchObject({ state: 'invalid', appealOutcome: 'invalid', outcome: 'invalid', dueAt: null });
    expect(refusal(p, o, { type: 'rectify', note: 'x' }, admin, '2026-10-12T10:00:00')).toBe('invalid-transition');
  });

  it('appeal judged upheld: the 差评 stands and the handling limit counts from the judgment', () => {
    const o = run(p, fresh(), [
      [{ type: 'appeal', note: '误按' }, sup, '2026-10-08T09:00:00'],
      [{ type: 'judge', outcome: 'upheld', class: 'simple', note: '差评有效' }, admin, '2026-10-14T09:00:00'],
    ]);
    expect(o).toMatchObject({ state: 'rectifying', appealOutcome: 'upheld', class: 'simple', dueAt: china('2026-10-22T00:00:00') }); // 15, 16, 19, 20, 21
  });

  it('an unsatisfied revisit sends the order back once (5 working days), then closes it unresolved', () => {
    let o = run(p, fresh(), [
      [{ type: 'confirm', class: 'simple' }, sup, '2026-10-08T09:00:00'],
      [{ type: 'rectify', note: '整改' }, sup, '2026-10-09T09:00:00'],
      [{ type: 'revisit', satisfied: false, note: '仍不满意' }, sup, '2026-10-12T09:00:00'],
    ]);
    expect(o).toMatchObject({ state: 'rectifying', redos: 1, dueAt: china('2026-10-20T00:00:00') }); // 13, 14, 15, 16, 19
    o = run(p, o, [
      [{ type: 'rectify', note: '重办' }, sup, '2026-10-13T09:00:00'],
      [{ type: 'revisit', satisfied: false, note: '仍不满意' }, sup, '2026-10-14T09:00:00'],
    ]);
    expect(o).toMatchObject({ state: 'closed', outcome: 'unresolved', redos: 1 });
  });

  it('viewers cannot act; notes are required where the rules ask for them', () => {
    expect(refusal(p, fresh(), { type: 'start-verify' }, viewer, '2026-10-08T09:00:00')).toBe('forbidden');
    expect(allowedActions(fresh(), 'viewer')).toEqual([]);
    const o = run(p, fresh(), [[{ type: 'confirm', class: 'simple' }, sup, '2026-10-08T09:00:00']]);
    expect(refusal(p, o, { type: 'rectify', note: '' }, sup, '2026-10-08T09:00:00')).toBe('invalid-input');
    expect(refusal(p, o, { type: 'confirm', class: 'simple' }, sup, '2026-10-08T09:00:00')).toBe('invalid-transition');
    const c = decide(o, { type: 'comment', note: '已联系评价人' }, sup, china('2026-10-08T10:00:00'), p);
    expect(c.ok && c.next).toMatchObject({ state: 'rectifying', version: o.version + 1, dueAt: o.dueAt });
  });
});

describe('Hubei profile (verify in 24 hours, rectify in 15 days from verification)', () => {
  const p = policy('hubei');
  it('verify within 24 hours of receipt, to the minute', () => {
    const o = newOrder(china('2026-10-01T10:30:00'), p).order; // a holiday: hours are hours
    expect(o.dueAt).toBe(china('2026-10-02T10:30:00'));
  });
  it('rectify within 15 calendar days of the verification, and extend once', () => {
    const o = run(p, newOrder(china('2026-10-01T10:30:00'), p).order, [
      [{ type: 'confirm', class: 'general' }, sup, '2026-10-02T09:00:00'],
    ]);
    expect(o.dueAt).toBe(china('2026-10-18T00:00:00')); // Oct 3 … Oct 17
    const ext = run(p, o, [[{ type: 'extend', amount: 10, note: '需省里协调' }, sup, '2026-10-10T09:00:00']]);
    expect(ext.dueAt).toBe(china('2026-10-28T00:00:00'));
    expect(deadline(china('2026-10-02T09:00:00'), { amount: 15, unit: 'days' }, cal)).toBe(o.dueAt);
  });
  it('has no redo: an unsatisfied revisit closes the order unresolved', () => {
    const o = run(p, newOrder(china('2026-10-01T10:30:00'), p).order, [
      [{ type: 'confirm', class: 'general' }, sup, '2026-10-02T09:00:00'],
      [{ type: 'rectify', note: 'x' }, sup, '2026-10-03T09:00:00'],
      [{ type: 'revisit', satisfied: false, note: '不满意' }, sup, '2026-10-04T09:00:00'],
    ]);
    expect(o).toMatchObject({ state: 'closed', outcome: 'unresolved' });
  });
});

describe('Jilin profile (feed back within 7 working days)', () => {
  const p = policy('jilin');
  it('7 working days from receipt over 春节, and no extension', () => {
    const o = run(p, newOrder(china('2026-02-13T15:00:00'), p).order, [[{ type: 'confirm', class: 'simple' }, sup, '2026-02-14T09:00:00']]);
    expect(o.dueAt).toBe(china('2026-03-03T00:00:00')); // Sat 14 (调休), 24, 25, 26, 27, Sat 28 (调休), Mon Mar 2
    expect(refusal(p, o, { type: 'extend', amount: 1, note: 'x' }, sup, '2026-02-24T09:00:00')).toBe('invalid-transition');
  });
});
