/**
 * 转办 and what leaves the hall, as rules of the pure work-order machine: when a 差评 may be
 * handed on, and which milestones each step reports to the province.
 */
import { describe, expect, it } from 'vitest';
import { WorkingDayCalendar } from '../../hub/calendar/working-days.js';
import { allowedActions, decide, newOrder, type Actor, type Command, type Order, type Policy } from '../../hub/workorders/machine.js';
import { milestonesOf } from '../../hub/workorders/outbound.js';
import { PROFILES } from '../../hub/workorders/policy.js';
import type { WorkOrder } from '../../hub/workorders/store.js';

const cal = new WorkingDayCalendar();
const china = (s: string) => Date.parse(s + '+08:00');
const withHandoff: Policy = { profile: PROFILES.ankang, calendar: cal, handoff: { target: '12345' } };
const without: Policy = { profile: PROFILES.ankang, calendar: cal };
const jilin: Policy = { profile: PROFILES.jilin, calendar: cal, handoff: { target: '12345' } };
const sup: Actor = { name: 'zhang', role: 'supervisor' };
const admin: Actor = { name: 'li', role: 'admin' };
const at = china('2026-11-24T10:00:00');

function run(p: Policy, steps: Command[], actor: Actor = sup): Order {
  let o = newOrder(at, p).order;
  for (const cmd of steps) {
    const d = decide(o, cmd, cmd.type === 'judge' ? admin : actor, at + 3_600_000, p);
    if (!d.ok) throw d.refusal;
    o = d.next;
  }
  return o;
}
const handOff: Command = { type: 'hand-off', note: '属部门政策问题，本大厅无法解决' };
const refused = (p: Policy, o: Order, cmd: Command) => {
  const d = decide(o, cmd, sup, at + 7_200_000, p);
  return d.ok ? null : d.refusal.code;
};

describe('转办: handing a 差评 on (12345, a department)', () => {
  it('closes the order as handed-off with its reason and the destination in the trail', () => {
    const o = run(withHandoff, [{ type: 'confirm', class: 'general' }]);
    const d = decide(o, handOff, sup, at + 7_200_000, withHandoff);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.next).toMatchObject({ state: 'closed', outcome: 'handed-off', dueAt: null, version: o.version + 1 });
    expect(d.event).toMatchObject({
      action: 'hand-off',
      from: 'rectifying',
      to: 'closed',
      note: '属部门政策问题，本大厅无法解决',
      data: { target: '12345' },
    });
  });

  it('is refused when no destination is configured, and not offered', () => {
    const o = run(without, []);
    expect(refused(without, o, handOff)).toBe('invalid-transition');
    expect(allowedActions(o, 'supervisor')).not.toContain('hand-off');
    expect(allowedActions(o, 'supervisor', true)).toContain('hand-off');
  });

  it('needs a reason', () => {
    expect(refused(withHandoff, run(withHandoff, []), { type: 'hand-off', note: '  ' })).toBe('invalid-input');
  });

  it('is not allowed while an appeal is judged, nor after the 差评 was found invalid, resolved or already handed off', () => {
    const appealed = run(withHandoff, [{ type: 'appeal', note: '误评' }]);
    expect(refused(withHandoff, appealed, handOff)).toBe('invalid-transition');
    expect(allowedActions(appealed, 'admin', true)).not.toContain('hand-off');
    const invalid = run(withHandoff, [
      { type: 'appeal', note: '误评' },
      { type: 'judge', outcome: 'invalid', note: '属误评' },
    ]);
    expect(refused(withHandoff, invalid, handOff)).toBe('invalid-transition');
    const resolved = run(withHandoff, [
      { type: 'confirm', class: 'simple' },
      { type: 'rectify', note: '已整改' },
      { type: 'revisit', satisfied: true, note: '满意' },
    ]);
    expect(refused(withHandoff, resolved, handOff)).toBe('invalid-transition');
    expect(allowedActions(resolved, 'supervisor', true)).toEqual([]);
    const handed = run(withHandoff, [handOff]);
    expect(refused(withHandoff, handed, handOff)).toBe('invalid-transition');
  });

  it('is allowed after the order closed unresolved (still unsatisfied at the revisit, no redo left), and offered only then', () => {
    const unresolved = run(jilin, [
      { type: 'confirm', class: 'general' },
      { type: 'rectify', note: '已整改' },
      { type: 'revisit', satisfied: false, note: '仍不满意' },
    ]);
    expect(unresolved).toMatchObject({ state: 'closed', outcome: 'unresolved' });
    expect(allowedActions(unresolved, 'supervisor', true)).toEqual(['hand-off']);
    expect(allowedActions(unresolved, 'viewer', true)).toEqual([]);
    const d = decide(unresolved, handOff, sup, at + 7_200_000, jilin);
    expect(d.ok && d.next).toMatchObject({ state: 'closed', outcome: 'handed-off' });
  });
});

describe('the milestones each step reports to the province', () => {
  const step = (p: Policy, before: Command[], cmd: Command) => {
    const o = run(p, before);
    const d = decide(o, cmd, cmd.type === 'judge' ? admin : sup, at + 7_200_000, p);
    if (!d.ok) throw d.refusal;
    return milestonesOf(o as WorkOrder, d.next as WorkOrder, cmd, d.event);
  };
  it('verified valid on confirm, verified invalid on appeal; start-verify and comments stay in the hall', () => {
    expect(step(without, [], { type: 'confirm', class: 'simple' })).toEqual([{ type: 'verified', result: 'valid' }]);
    expect(step(without, [], { type: 'appeal', note: '误评' })).toEqual([{ type: 'verified', result: 'invalid' }]);
    expect(step(without, [], { type: 'start-verify' })).toEqual([]);
    expect(step(without, [], { type: 'comment', note: '已联系' })).toEqual([]);
  });
  it('an appeal decided: upheld goes on to rectification; invalid also closes the order', () => {
    const appealed: Command[] = [{ type: 'appeal', note: '误评' }];
    expect(step(without, appealed, { type: 'judge', outcome: 'upheld', note: '差评有效' })).toEqual([
      { type: 'appeal-decided', result: 'upheld' },
    ]);
    expect(step(without, appealed, { type: 'judge', outcome: 'invalid', note: '属误评' })).toEqual([
      { type: 'appeal-decided', result: 'invalid' },
      { type: 'closed', result: 'invalid' },
    ]);
  });
  it('extended, rectified; a revisit reports its result, and closes when it ends the order', () => {
    const rectifying: Command[] = [{ type: 'confirm', class: 'general' }];
    expect(step(without, rectifying, { type: 'extend', amount: 3, note: '需协调' })).toEqual([{ type: 'extended', result: null }]);
    expect(step(without, rectifying, { type: 'rectify', note: '已整改' })).toEqual([{ type: 'rectified', result: null }]);
    const revisit: Command[] = [...rectifying, { type: 'rectify', note: '已整改' }];
    expect(step(without, revisit, { type: 'revisit', satisfied: true, note: '满意' })).toEqual([
      { type: 'revisited', result: 'satisfied' },
      { type: 'closed', result: 'resolved' },
    ]);
    // Ankang: an unsatisfied revisit sends it back for one redo, the order stays open.
    expect(step(without, revisit, { type: 'revisit', satisfied: false, note: '不满意' })).toEqual([
      { type: 'revisited', result: 'unsatisfied' },
    ]);
  });
});
