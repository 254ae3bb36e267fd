/**
 * When does an unrated service count as 基本满意 (basically satisfied)? Pure date arithmetic
 * over China Standard Time, with the working-day rule passed in (the hub's one calendar,
 * hub/calendar/working-days.ts). Periods are counted the way Chinese law counts them (Civil
 * Code arts. 200–203): the day the service happened is not counted, and the period ends at
 * 24:00 of its last day. So a case finished on 30 September with 7 calendar days runs through
 * 7 October and the default applies at 00:00 on 8 October; with working days, only working
 * days are counted (weekends and public holidays skipped, 调休 make-up working days counted).
 */
import { addDays, addWorkingDaysBy, chinaDay, startOfChinaDay, type Day } from '../calendar/working-days.js';

export interface DefaultPeriod {
  unit: 'calendar-days' | 'working-days';
  count: number;
}

/** The moment (epoch ms) a session opened at `openedAt` gets its default if still unrated. */
export function defaultDeadline(openedAt: number, period: DefaultPeriod, isWorkingDay: (day: Day) => boolean): number {
  const first = chinaDay(openedAt);
  const last = period.unit === 'calendar-days' ? addDays(first, period.count) : addWorkingDaysBy(isWorkingDay, first, period.count);
  return startOfChinaDay(addDays(last, 1));
}
