/**
 * When does an unrated service count as 基本满意 (basically satisfied)? Pure date arithmetic
 * over China Standard Time (UTC+8, no daylight saving), with the working-day calendar passed
 * in. Periods are counted the way Chinese law counts them (Civil Code arts. 200–203): the day
 * the service happened is not counted, and the period ends at 24:00 of its last day. So a
 * case finished on 30 September with 7 calendar days runs through 7 October and the default
 * applies at 00:00 on 8 October; with working days, only working days are counted (weekends
 * and public holidays skipped, 调休 make-up working days counted).
 */
export const CHINA_UTC_OFFSET_MS = 8 * 3_600_000;
const DAY_MS = 86_400_000;

export interface DefaultPeriod {
  unit: 'calendar-days' | 'working-days';
  count: number;
}

/** Days since 1970-01-01 in China time. */
export function chinaDay(ms: number): number {
  return Math.floor((ms + CHINA_UTC_OFFSET_MS) / DAY_MS);
}

/** 00:00 China time of a chinaDay, as epoch ms. */
export function chinaDayStart(day: number): number {
  return day * DAY_MS - CHINA_UTC_OFFSET_MS;
}

/** 'YYYY-MM-DD' of a chinaDay. */
export function chinaDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Weekday of a chinaDay: 0 Sunday … 6 Saturday. */
export function chinaWeekday(day: number): number {
  return new Date(day * DAY_MS).getUTCDay();
}

/** The moment (epoch ms) a session opened at `openedAt` gets its default if still unrated. */
export function defaultDeadline(openedAt: number, period: DefaultPeriod, isWorkday: (date: string) => boolean): number {
  const first = chinaDay(openedAt);
  if (period.unit === 'calendar-days') return chinaDayStart(first + period.count + 1);
  let day = first;
  let counted = 0;
  // Bounded: even the longest holiday season leaves more than one working day in 4 weeks.
  for (let i = 0; counted < period.count; i++) {
    if (i > period.count * 7 + 60) throw new RangeError(`no ${period.count} working days found after ${chinaDate(first)}: check the holiday calendar`);
    day++;
    if (isWorkday(chinaDate(day))) counted++;
  }
  return chinaDayStart(day + 1);
}
