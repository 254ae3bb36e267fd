/**
 * 差评 handling deadlines as a hall's policy profile. The seeds differ by region; a hall picks
 * a built-in profile or loads its own JSON file. Deadlines are computed once, when an order
 * enters a stage, and stored with it: changing the profile later does not move promises
 * already made.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { addDays, chinaDay, startOfChinaDay, type WorkingDayCalendar } from '../calendar/working-days.js';
import { ConfigError } from '../../common/config-error.js';

export const DurationSchema = z
  .object({ amount: z.number().int().positive('a time limit must be at least 1'), unit: z.enum(['hours', 'days', 'workingDays']) })
  .strict();
export type Duration = z.infer<typeof DurationSchema>;

export const CLASSES = ['simple', 'general', 'consultation'] as const;
/** simple: 立整立改 (简易); general: 限时整改 (一般); consultation: 会商 (疑难复杂, several departments). */
export type OrderClass = (typeof CLASSES)[number];

export const PolicyProfileSchema = z
  .object({
    id: z.string().min(1).max(32),
    name: z.string().min(1).max(64),
    /** From receipt: verify (核实) and either confirm the 差评 or appeal it. */
    verify: DurationSchema,
    /** Time to rectify and answer the citizen, by class. */
    handle: z.object({ simple: DurationSchema, general: DurationSchema, consultation: DurationSchema }).strict(),
    /** 'received': the handling limit counts from receipt (Ankang, Jilin); 'confirmed': from verification (Hubei). */
    handleFrom: z.enum(['received', 'confirmed']),
    /** One (or more) extensions of the handling limit (延期). requestWithin: counted from receipt. */
    extension: z
      .object({ max: DurationSchema, requestWithin: DurationSchema.nullable(), times: z.number().int().min(1).max(3) })
      .strict()
      .nullable(),
    /** Appeal (申诉/复核申请) within `within` of receipt; the review (复核) takes at most `review`. */
    appeal: z.object({ within: DurationSchema, review: DurationSchema }).strict().nullable(),
    /** After rectification the citizen is asked again (回访) within this time. */
    revisit: DurationSchema,
    /** An unsatisfied revisit sends the order back (发回重办) this many times, each with this limit. */
    redo: z
      .object({ times: z.number().int().min(1).max(3), within: DurationSchema })
      .strict()
      .nullable(),
  })
  .strict();
export type PolicyProfile = z.infer<typeof PolicyProfileSchema>;

const h = (amount: number): Duration => ({ amount, unit: 'hours' });
const d = (amount: number): Duration => ({ amount, unit: 'days' });
const wd = (amount: number): Duration => ({ amount, unit: 'workingDays' });

/**
 * The seeds' rules. Where a seed is silent the profile says what we chose, so hall IT can
 * see it and load its own file.
 */
export const PROFILES: Record<'hubei' | 'ankang' | 'jilin', PolicyProfile> = {
  // 湖北省政务服务"好差评"管理办法 art. 15: verify within 24 h; a confirmed 差评 is rectified
  // within 15 days; if that cannot be met, the reason and a new limit are reported (one
  // extension, our limit 15 days). Appeal and review times, revisit: our choice.
  hubei: {
    id: 'hubei',
    name: '湖北省（核实24小时、整改15日）',
    verify: h(24),
    handle: { simple: d(15), general: d(15), consultation: d(15) },
    handleFrom: 'confirmed',
    extension: { max: d(15), requestWithin: null, times: 1 },
    appeal: { within: h(24), review: wd(5) },
    revisit: wd(3),
    redo: null,
  },
  // 安康市 art. 15: simple 5 working days, general 10, from receipt; one extension of at most
  // 5 working days, applied for within 5 working days of receipt; appeal within 2 working
  // days; consultation answered within 15 working days; revisit; redo once within 5 working
  // days. Review time (5 working days) follows Jilin; Ankang names none.
  ankang: {
    id: 'ankang',
    name: '安康市（简易5个、一般10个工作日）',
    verify: wd(2),
    handle: { simple: wd(5), general: wd(10), consultation: wd(15) },
    handleFrom: 'received',
    extension: { max: wd(5), requestWithin: wd(5), times: 1 },
    appeal: { within: wd(2), review: wd(5) },
    revisit: wd(5),
    redo: { times: 1, within: wd(5) },
  },
  // 吉林经开区: feed back within 7 working days; appeal within 2 working days of receipt,
  // review within 5 working days.
  jilin: {
    id: 'jilin',
    name: '吉林经开区（7个工作日反馈）',
    verify: wd(2),
    handle: { simple: wd(7), general: wd(7), consultation: wd(7) },
    handleFrom: 'received',
    extension: null,
    appeal: { within: wd(2), review: wd(5) },
    revisit: wd(3),
    redo: null,
  },
};

export class PolicyFileError extends ConfigError {
  override readonly name = 'PolicyFileError';
}

/** A built-in profile by name, or a JSON file holding one. */
export function loadPolicy(nameOrFile: string): PolicyProfile {
  if (nameOrFile in PROFILES) return PROFILES[nameOrFile as keyof typeof PROFILES];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(nameOrFile, 'utf8'));
  } catch (e) {
    throw new PolicyFileError(
      `policy must be one of ${Object.keys(PROFILES).join(', ')} or a JSON file; cannot read ${nameOrFile}: ${(e as Error).message}`,
    );
  }
  const r = PolicyProfileSchema.safeParse(raw);
  if (!r.success) throw new PolicyFileError(`policy file ${nameOrFile}: ${z.prettifyError(r.error)}`);
  return r.data;
}

/**
 * When a limit of `dur` that starts at `start` runs out (exclusive: overdue once now > due).
 * Hours count from the instant; days and working days end at midnight China time after the
 * n-th (working) day following the start day — the start day itself is not counted.
 */
export function deadline(start: number, dur: Duration, cal: WorkingDayCalendar): number {
  switch (dur.unit) {
    case 'hours':
      return start + dur.amount * 3_600_000;
    case 'days':
      return startOfChinaDay(addDays(chinaDay(start), dur.amount + 1));
    case 'workingDays':
      return startOfChinaDay(addDays(cal.addWorkingDays(start, dur.amount), 1));
  }
}

/** Moves an existing deadline (end of some day) on by `dur`, counted from the day it ended. */
export function extendDeadline(due: number, dur: Duration, cal: WorkingDayCalendar): number {
  return dur.unit === 'hours' ? due + dur.amount * 3_600_000 : deadline(due - 1, dur, cal);
}

export function durationText(dur: Duration): string {
  return `${dur.amount}${dur.unit === 'hours' ? '小时' : dur.unit === 'days' ? '日' : '个工作日'}`;
}
