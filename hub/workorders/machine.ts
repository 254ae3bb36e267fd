/**
 * The 差评 work order as a pure state machine: an order, a command, who gives it and when go
 * in; the next order and the event to append to its trail come out — or a named refusal.
 * No I/O, no clock: every rule is tested with fake times and the working-day calendar.
 *
 *   new ──start-verify──▶ verifying ──confirm──▶ rectifying ──rectify──▶ revisit ──revisit(ok)──▶ closed
 *    │                     │                       ▲    │ extend (once)      │
 *    └──confirm/appeal─────┤                       │    ▼                    └─revisit(not ok)─▶ rectifying (redo, once)
 *                          └──appeal──▶ appealed ──judge: upheld (差评维持)──┘     or closed (unresolved)
 *                                                 └─judge: invalid (误评/恶意差评)──▶ invalid (dropped from statistics)
 */
import { CodedError } from '../../common/errors.js';
import type { WorkingDayCalendar } from '../calendar/working-days.js';
import { CLASSES, deadline, durationText as durText, extendDeadline, type OrderClass, type PolicyProfile } from './policy.js';

export const STATES = ['new', 'verifying', 'appealed', 'rectifying', 'revisit', 'closed', 'invalid'] as const;
export type OrderState = (typeof STATES)[number];
export const TERMINAL: ReadonlySet<OrderState> = new Set(['closed', 'invalid']);

export type StaffRole = 'admin' | 'supervisor' | 'viewer';
export interface Actor {
  name: string;
  role: StaffRole | 'system';
}

export interface Order {
  state: OrderState;
  /** When the hub received the 差评 (the clock of every "from receipt" limit). */
  createdAt: number;
  class: OrderClass | null;
  /** When the current stage's limit runs out; null once closed. */
  dueAt: number | null;
  /** The handling limit once known (survives revisit, for reports). */
  handleDueAt: number | null;
  extensions: number;
  redos: number;
  /** Who filed the appeal: they may not also judge it. */
  appealedBy: string | null;
  appealOutcome: 'upheld' | 'invalid' | null;
  /** handed-off: the hall could not resolve it and handed it on (12345, a department). */
  outcome: 'resolved' | 'unresolved' | 'invalid' | 'handed-off' | null;
  /** Stages finished after their limit. */
  lateStages: number;
  version: number;
}

export type Command =
  | { type: 'start-verify'; note?: string }
  | { type: 'confirm'; class: OrderClass; note?: string }
  | { type: 'appeal'; note: string }
  | { type: 'judge'; outcome: 'upheld' | 'invalid'; class?: OrderClass; note: string }
  | { type: 'extend'; amount: number; note: string }
  | { type: 'rectify'; note: string }
  | { type: 'revisit'; satisfied: boolean; note: string }
  | { type: 'hand-off'; note: string }
  | { type: 'comment'; note: string };
export type Action = Command['type'] | 'create';

export type RefusalCode = 'forbidden' | 'invalid-transition' | 'too-late' | 'limit-reached' | 'invalid-input' | 'own-appeal';
const REFUSAL_STATUS: Record<RefusalCode, number> = {
  forbidden: 403,
  'own-appeal': 403,
  'invalid-transition': 409,
  'too-late': 422,
  'limit-reached': 422,
  'invalid-input': 400,
};
export class Refusal extends CodedError<RefusalCode> {
  override readonly name = 'Refusal';
  constructor(code: RefusalCode, message: string) {
    super(code, message, REFUSAL_STATUS[code]);
  }
}

export interface OrderEvent {
  action: Action;
  from: OrderState | null;
  to: OrderState;
  note: string | null;
  /** What the action decided (class, outcome, new deadline, whether the stage ended late). */
  data: Record<string, unknown>;
}

export type Decision = { ok: true; next: Order; event: OrderEvent } | { ok: false; refusal: Refusal };

export interface Policy {
  profile: PolicyProfile;
  calendar: WorkingDayCalendar;
  /** Where a 差评 the hall cannot resolve is handed on (e.g. 12345); null or absent: no hand-off. */
  handoff?: { target: string } | null;
}

/** A new order for a 差评 received at `at`. */
export function newOrder(at: number, p: Policy): { order: Order; event: OrderEvent } {
  const dueAt = deadline(at, p.profile.verify, p.calendar);
  return {
    order: {
      state: 'new',
      createdAt: at,
      class: null,
      dueAt,
      handleDueAt: null,
      extensions: 0,
      redos: 0,
      appealedBy: null,
      appealOutcome: null,
      outcome: null,
      lateStages: 0,
      version: 1,
    },
    event: { action: 'create', from: null, to: 'new', note: null, data: { dueAt, profile: p.profile.id } },
  };
}

/**
 * Which actions `role` may take on an order in `state` (for the page's buttons). `handoff`: a
 * hand-off destination is configured.
 */
export function allowedActions(o: Order, role: StaffRole, handoff = false): Command['type'][] {
  if (role === 'viewer') return [];
  if (TERMINAL.has(o.state)) return handoff && canHandOffClosed(o) ? ['hand-off'] : [];
  const out: Command['type'][] = [];
  for (const [t, states] of Object.entries(TRANSITIONS) as [Command['type'], readonly OrderState[]][]) {
    if (!states.includes(o.state)) continue;
    if (t === 'judge' && role !== 'admin') continue;
    if (t === 'hand-off' && !handoff) continue;
    out.push(t);
  }
  return out;
}

/** A 差评 closed unresolved (still unsatisfied at the revisit, no redo left) can still be handed on. */
const canHandOffClosed = (o: Order) => o.state === 'closed' && o.outcome === 'unresolved';

const TRANSITIONS: Record<Command['type'], readonly OrderState[]> = {
  'start-verify': ['new'],
  confirm: ['new', 'verifying'],
  appeal: ['new', 'verifying'],
  judge: ['appealed'],
  extend: ['rectifying'],
  rectify: ['rectifying'],
  revisit: ['revisit'],
  // Not while an appeal is being judged: the 差评 may yet be found invalid.
  'hand-off': ['new', 'verifying', 'rectifying', 'revisit'],
  comment: ['new', 'verifying', 'appealed', 'rectifying', 'revisit'],
};

const refuse = (code: RefusalCode, message: string): Decision => ({ ok: false, refusal: new Refusal(code, message) });
const needsNote = (note: string | undefined): note is string => typeof note === 'string' && note.trim().length > 0;

export function isOverdue(o: Order, now: number): boolean {
  return !TERMINAL.has(o.state) && o.dueAt !== null && now > o.dueAt;
}

export function decide(o: Order, cmd: Command, actor: Actor, now: number, p: Policy): Decision {
  if (actor.role === 'viewer') return refuse('forbidden', '只读账号不能办理工单 (viewers cannot act on work orders)');
  if (actor.role === 'system') return refuse('forbidden', 'the system does not act on work orders');
  if (cmd.type === 'hand-off') return handOff(o, cmd, now, p);
  if (TERMINAL.has(o.state))
    return refuse('invalid-transition', `工单已${o.state === 'closed' ? '办结' : '认定无效'}，不能再办理 (order is ${o.state})`);
  if (!TRANSITIONS[cmd.type].includes(o.state)) return refuse('invalid-transition', `当前状态 ${o.state} 不能执行 ${cmd.type}`);
  if (cmd.type === 'judge' && actor.role !== 'admin') return refuse('forbidden', '复核只能由管理员办理 (only an admin judges an appeal)');

  const cal = p.calendar;
  const profile = p.profile;
  const lateNow = o.dueAt !== null && now > o.dueAt;
  const step = (to: OrderState, patch: Partial<Order>, data: Record<string, unknown> = {}, countLate = true): Decision => {
    const next: Order = { ...o, ...patch, state: to, version: o.version + 1 };
    if (countLate && lateNow && to !== o.state) next.lateStages = o.lateStages + 1;
    return {
      ok: true,
      next,
      event: {
        action: cmd.type,
        from: o.state,
        to,
        note: cmd.note?.trim() || null,
        data: { ...data, ...(lateNow ? { late: true } : {}), dueAt: next.dueAt },
      },
    };
  };
  const handleDue = (cls: OrderClass, base: number) => deadline(base, profile.handle[cls], cal);

  switch (cmd.type) {
    case 'start-verify':
      return step('verifying', {}, {}, false);

    case 'confirm': {
      if (!CLASSES.includes(cmd.class)) return refuse('invalid-input', `class must be one of ${CLASSES.join(', ')}`);
      const base = profile.handleFrom === 'received' ? o.createdAt : now;
      const due = handleDue(cmd.class, base);
      return step('rectifying', { class: cmd.class, dueAt: due, handleDueAt: due }, { class: cmd.class });
    }

    case 'appeal': {
      if (!profile.appeal) return refuse('invalid-transition', `本地政策（${profile.name}）没有申诉程序`);
      if (!needsNote(cmd.note)) return refuse('invalid-input', '申诉须写明理由并附佐证 (an appeal needs its grounds)');
      const lastDay = deadline(o.createdAt, profile.appeal.within, cal);
      if (now > lastDay) return refuse('too-late', `申诉期已过：须在收到差评后${durText(profile.appeal.within)}内提出`);
      const due = deadline(now, profile.appeal.review, cal);
      return step('appealed', { dueAt: due, appealedBy: actor.name }, {});
    }

    case 'judge': {
      if (o.appealedBy === actor.name) return refuse('own-appeal', '不能复核自己提出的申诉 (the person who appealed may not judge it)');
      if (!needsNote(cmd.note)) return refuse('invalid-input', '复核结论须写明理由');
      if (cmd.outcome === 'invalid') {
        return step('invalid', { dueAt: null, appealOutcome: 'invalid', outcome: 'invalid' }, { outcome: 'invalid' });
      }
      if (cmd.outcome !== 'upheld') return refuse('invalid-input', 'outcome must be upheld or invalid');
      const cls = cmd.class ?? 'general';
      if (!CLASSES.includes(cls)) return refuse('invalid-input', `class must be one of ${CLASSES.join(', ')}`);
      // The 差评 stands: handling starts now (the appeal's review time does not eat the limit).
      const due = handleDue(cls, now);
      return step('rectifying', { class: cls, dueAt: due, handleDueAt: due, appealOutcome: 'upheld' }, { outcome: 'upheld', class: cls });
    }

    case 'extend': {
      const ext = profile.extension;
      if (!ext) return refuse('invalid-transition', `本地政策（${profile.name}）不允许延期`);
      if (o.extensions >= ext.times) return refuse('limit-reached', `延期只能申请${ext.times}次`);
      if (!needsNote(cmd.note)) return refuse('invalid-input', '延期须写明理由');
      if (!Number.isInteger(cmd.amount) || cmd.amount < 1 || cmd.amount > ext.max.amount) {
        return refuse('invalid-input', `延期不得超过${durText(ext.max)}`);
      }
      if (ext.requestWithin && now > deadline(o.createdAt, ext.requestWithin, cal)) {
        return refuse('too-late', `延期须在收到差评后${durText(ext.requestWithin)}内申请`);
      }
      if (o.dueAt !== null && now > o.dueAt) return refuse('too-late', '已超期，不能再申请延期');
      const due = extendDeadline(o.dueAt!, { amount: cmd.amount, unit: ext.max.unit }, cal);
      return step(
        'rectifying',
        { dueAt: due, handleDueAt: due, extensions: o.extensions + 1 },
        { amount: cmd.amount, unit: ext.max.unit },
        false,
      );
    }

    case 'rectify': {
      if (!needsNote(cmd.note)) return refuse('invalid-input', '须填写整改情况');
      return step('revisit', { dueAt: deadline(now, profile.revisit, cal) });
    }

    case 'revisit': {
      if (!needsNote(cmd.note)) return refuse('invalid-input', '须填写回访情况');
      if (cmd.satisfied) return step('closed', { dueAt: null, outcome: 'resolved' }, { satisfied: true });
      if (profile.redo && o.redos < profile.redo.times) {
        const due = deadline(now, profile.redo.within, cal);
        return step('rectifying', { dueAt: due, redos: o.redos + 1 }, { satisfied: false, redo: o.redos + 1 });
      }
      return step('closed', { dueAt: null, outcome: 'unresolved' }, { satisfied: false });
    }

    case 'comment':
      if (!needsNote(cmd.note)) return refuse('invalid-input', '备注不能为空');
      return {
        ok: true,
        next: { ...o, version: o.version + 1 },
        event: { action: 'comment', from: o.state, to: o.state, note: cmd.note.trim(), data: {} },
      };
  }
}

/**
 * Hands a 差评 the hall cannot resolve on to the configured destination (12345, a department):
 * the order closes as handed-off, its trail kept; the hand-off itself leaves through the
 * destination's durable queue (outbound.ts). Allowed while the hall still handles it, and after
 * it closed unresolved — not during an appeal, nor once resolved, invalid or handed off.
 */
function handOff(o: Order, cmd: Extract<Command, { type: 'hand-off' }>, now: number, p: Policy): Decision {
  if (!p.handoff) return refuse('invalid-transition', '未配置转办去向（12345 或部门），不能转办 (no hand-off destination configured)');
  if (!(TRANSITIONS['hand-off'].includes(o.state) || canHandOffClosed(o)))
    return refuse('invalid-transition', `当前状态 ${o.state}${o.outcome ? `/${o.outcome}` : ''} 不能转办`);
  if (!needsNote(cmd.note)) return refuse('invalid-input', '转办须写明原因（本大厅为何不能解决）');
  const late = o.dueAt !== null && now > o.dueAt && !TERMINAL.has(o.state);
  const next: Order = {
    ...o,
    state: 'closed',
    dueAt: null,
    outcome: 'handed-off',
    version: o.version + 1,
    lateStages: o.lateStages + (late ? 1 : 0),
  };
  return {
    ok: true,
    next,
    event: {
      action: 'hand-off',
      from: o.state,
      to: 'closed',
      note: cmd.note.trim(),
      data: { target: p.handoff.target, ...(late ? { late: true } : {}), dueAt: null },
    },
  };
}
