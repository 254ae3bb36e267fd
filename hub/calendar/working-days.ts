/**
 * The hub's one working-day calendar, used by the 7-day defaults (hub/sessions/deadline.ts)
 * and the 差评 work-order deadlines (hub/workorders/policy.ts) alike: weekends and public
 * holidays (法定节假日) off, 调休 make-up working days on, from the `chinese-days` package (the
 * State Council's yearly notices), plus one override file (`--holiday-file`) for what the
 * package does not know yet (next year's calendar before the package is updated) or a hall's
 * own closures:
 *
 *   { "holidays": ["2027-02-08", "2027-02-09"], "workdays": ["2027-02-06"], "years": [2027] }
 *
 * Pure apart from reading the override file: every function takes its dates as arguments;
 * nothing reads the clock. Dates are China calendar days written 'YYYY-MM-DD'. China has kept
 * UTC+8 without daylight saving since 1991, so a fixed offset is exact for every date this
 * software will meet.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { ConfigError } from '../../common/config-error.js';

const require = createRequire(import.meta.url);
// The package ships CommonJS; require() is the one way that works the same under Node and vitest.
const chineseDays = require('chinese-days') as { isWorkday: (d: string) => boolean };

export type Day = string;
export const CHINA_OFFSET_MS = 8 * 3_600_000;
const DAY_MS = 86_400_000;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Days since 1970-01-01 in China time for an instant. */
export function dayNumber(ms: number): number {
  return Math.floor((ms + CHINA_OFFSET_MS) / DAY_MS);
}

export function dayFromNumber(n: number): Day {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

export function numberFromDay(day: Day): number {
  if (!DAY_PATTERN.test(day)) throw new RangeError(`not a date: ${JSON.stringify(day)} (expected YYYY-MM-DD)`);
  const t = Date.parse(day + 'T00:00:00Z');
  if (Number.isNaN(t)) throw new RangeError(`not a date: ${day}`);
  return Math.round(t / DAY_MS);
}

/** The China calendar day of an instant. */
export function chinaDay(at: number | Date): Day {
  return dayFromNumber(dayNumber(typeof at === 'number' ? at : at.getTime()));
}

/** The instant 00:00 China time starts `day`. */
export function startOfChinaDay(day: Day): number {
  return numberFromDay(day) * DAY_MS - CHINA_OFFSET_MS;
}

export function addDays(day: Day, n: number): Day {
  return dayFromNumber(numberFromDay(day) + n);
}

/** 0 = Sunday … 6 = Saturday. */
export function weekday(day: Day): number {
  return (numberFromDay(day) + 4) % 7; // 1970-01-01 was a Thursday
}

export const CalendarOverridesSchema = z
  .object({
    /** Days that are working days whatever the official calendar says (e.g. a make-up Saturday the package does not know yet). */
    workdays: z.array(z.string().regex(DAY_PATTERN, 'workdays must be dates written YYYY-MM-DD')).default([]),
    /** Days that are not working days (holidays not yet in the package, the hall's own closures). */
    holidays: z.array(z.string().regex(DAY_PATTERN, 'holidays must be dates written YYYY-MM-DD')).default([]),
    /** Years the override file fully describes (so no warning is given for them). */
    years: z.array(z.number().int().min(2000).max(2100)).default([]),
  })
  .strict()
  .refine((o) => !o.holidays.some((d) => o.workdays.includes(d)), {
    message: 'a date cannot be listed both as a workday and as a holiday',
  });
export type CalendarOverrides = z.input<typeof CalendarOverridesSchema>;

/** Years the bundled official calendar covers. */
function officialYears(): Set<number> {
  const data = require('chinese-days/dist/chinese-days.json') as { holidays: Record<string, string> };
  return new Set(Object.keys(data.holidays).map((d) => Number(d.slice(0, 4))));
}
let OFFICIAL: Set<number> | null = null;

export class WorkingDayCalendar {
  private readonly workdays: Set<Day>;
  private readonly holidays: Set<Day>;
  private readonly years: Set<number>;

  constructor(overrides: CalendarOverrides = {}) {
    const o = CalendarOverridesSchema.parse(overrides);
    this.workdays = new Set(o.workdays);
    this.holidays = new Set(o.holidays);
    OFFICIAL ??= officialYears();
    this.years = new Set([...OFFICIAL, ...o.years]);
  }

  /** Whether the calendar knows the official holidays of `year` (otherwise only weekends count). */
  covers(year: number): boolean {
    return this.years.has(year);
  }

  isWorkingDay(date: Day | number | Date): boolean {
    const day = typeof date === 'string' ? date : chinaDay(date);
    numberFromDay(day); // validates
    if (this.workdays.has(day)) return true;
    if (this.holidays.has(day)) return false;
    return chineseDays.isWorkday(day);
  }

  /**
   * Answers of addWorkingDays, by n and start day. A calendar never changes once made, so an
   * answer never goes stale; the hub asks the same few (every 差评's work order a deadline from
   * its day: counting the days was ~7 % of the catch-up). Bounded all the same.
   */
  private readonly added = new Map<string, Day>();

  /**
   * The n-th working day after the China day of `start` (the start day itself is not counted,
   * as in Chinese administrative time limits: 期间开始之日不计算在内). n = 0 gives the start
   * day itself if it is a working day, else the next working day.
   */
  addWorkingDays(start: Day | number | Date, n: number): Day {
    // An instant by its day number: writing it as a date costs more than the lookup.
    const key = typeof start === 'string' ? `${n} ${start}` : `${n} #${dayNumber(typeof start === 'number' ? start : start.getTime())}`;
    let day = this.added.get(key);
    if (day === undefined) {
      day = addWorkingDaysBy((d) => this.isWorkingDay(d), typeof start === 'string' ? start : chinaDay(start), n);
      if (this.added.size >= 4096) this.added.clear();
      this.added.set(key, day);
    }
    return day;
  }

  /** Working days strictly after `from`'s day up to and including `to`'s day. */
  workingDaysBetween(from: Day | number | Date, to: Day | number | Date): number {
    let day = typeof from === 'string' ? from : chinaDay(from);
    const end = typeof to === 'string' ? to : chinaDay(to);
    let n = 0;
    while (day < end) {
      day = addDays(day, 1);
      if (this.isWorkingDay(day)) n++;
    }
    return n;
  }
}

/**
 * The counting rule alone, over any rule of which days are working days: the n-th working day
 * after `start` (not counted), or for n = 0 `start` itself or the next working day. Bounded, so
 * a calendar with no working days fails loudly instead of looping.
 */
export function addWorkingDaysBy(isWorkingDay: (day: Day) => boolean, start: Day, n: number): Day {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`working days must be a whole number ≥ 0, got ${n}`);
  // Even the longest holiday season leaves more than one working day in 4 weeks.
  const limit = n * 7 + 60;
  const step = (day: Day, i: number): Day => {
    if (i > limit) throw new RangeError(`no ${n} working days found after ${start}: check the holiday calendar`);
    return addDays(day, 1);
  };
  let day = start;
  if (n === 0) {
    for (let i = 0; !isWorkingDay(day); i++) day = step(day, i);
    return day;
  }
  for (let i = 0, left = n; left > 0; i++) {
    day = step(day, i);
    if (isWorkingDay(day)) left--;
  }
  return day;
}

export class CalendarFileError extends ConfigError {
  override readonly name = 'CalendarFileError';
}

/** Reads and validates an override file (JSON: { workdays: [...], holidays: [...], years: [...] }). */
export function loadCalendar(file: string | null | undefined): WorkingDayCalendar {
  if (!file) return new WorkingDayCalendar();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CalendarFileError(`cannot read the working-day override file ${file}: ${(e as Error).message}`);
  }
  const r = CalendarOverridesSchema.safeParse(raw);
  if (!r.success) throw new CalendarFileError(`working-day override file ${file}: ${z.prettifyError(r.error)}`);
  return new WorkingDayCalendar(r.data);
}

const official = () => (DEFAULT ??= new WorkingDayCalendar());
let DEFAULT: WorkingDayCalendar | null = null;

/** With the official calendar only. */
export function isWorkingDay(date: Day | number | Date): boolean {
  return official().isWorkingDay(date);
}

/** With the official calendar only; see WorkingDayCalendar.addWorkingDays. */
export function addWorkingDays(start: Day | number | Date, n: number): Day {
  return official().addWorkingDays(start, n);
}
