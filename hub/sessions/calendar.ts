/**
 * The official working-day calendar: weekends and public holidays off, 调休 (make-up) days
 * on. The data comes from the `chinese-days` package (the State Council's yearly notices);
 * a hall can override single days with a JSON file, e.g. for next year's holidays before a
 * package update, or a local holiday:
 *
 *   { "holidays": ["2027-02-08", "2027-02-09"], "workdays": ["2027-02-06"] }
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';

const require = createRequire(import.meta.url);
// The package ships CommonJS; require() is the one way that works the same under Node and vitest.
const chineseDays = require('chinese-days') as { isWorkday: (d: string) => boolean };
const chineseDaysData = require('chinese-days/dist/chinese-days.json') as { holidays: Record<string, string>; workdays: Record<string, string> };

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'dates are written YYYY-MM-DD');
export const CalendarOverrideSchema = z
  .object({ holidays: z.array(Day).default([]), workdays: z.array(Day).default([]) })
  .strict()
  .refine((o) => !o.holidays.some((d) => o.workdays.includes(d)), { message: 'a date cannot be both a holiday and a workday' });
export type CalendarOverride = z.infer<typeof CalendarOverrideSchema>;

export class WorkCalendar {
  private readonly holidays: Set<string>;
  private readonly workdays: Set<string>;
  /** Years the package knows the official holidays of. */
  readonly knownYears: Set<number>;

  constructor(override: CalendarOverride = { holidays: [], workdays: [] }) {
    this.holidays = new Set(override.holidays);
    this.workdays = new Set(override.workdays);
    this.knownYears = new Set([...Object.keys(chineseDaysData.holidays), ...override.holidays, ...override.workdays].map((d) => Number(d.slice(0, 4))));
  }

  static fromFile(path: string): WorkCalendar {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`holiday file ${path} cannot be read as JSON: ${(e as Error).message}`);
    }
    const parsed = CalendarOverrideSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`holiday file ${path}: ${z.prettifyError(parsed.error)}`);
    return new WorkCalendar(parsed.data);
  }

  isWorkday = (date: string): boolean => {
    if (this.holidays.has(date)) return false;
    if (this.workdays.has(date)) return true;
    return chineseDays.isWorkday(date);
  };

  /** Does the calendar know the official holidays of this year (else only weekends count)? */
  knows(year: number): boolean {
    return this.knownYears.has(year);
  }
}
