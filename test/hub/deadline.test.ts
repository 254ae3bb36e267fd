import { describe, expect, it } from 'vitest';
import { chinaDay, WorkingDayCalendar } from '../../hub/calendar/working-days.js';
import { defaultDeadline } from '../../hub/sessions/deadline.js';

/** Epoch ms of a Beijing wall-clock time. */
const bj = (s: string) => Date.parse(`${s}+08:00`);
const cal = new WorkingDayCalendar();
const isWorkday = (d: string) => cal.isWorkingDay(d);

describe('when an unrated session gets its 基本满意 default', () => {
  it('7 calendar days: the service day is not counted; the default applies at 00:00 after the 7th day (Beijing time)', () => {
    const d = defaultDeadline(bj('2025-09-30T16:20:00'), { unit: 'calendar-days', count: 7 }, isWorkday);
    expect(d).toBe(bj('2025-10-08T00:00:00'));
    // A case finished at 23:59 Beijing time (15:59 UTC) still counts from that Beijing day.
    expect(defaultDeadline(bj('2025-09-30T23:59:00'), { unit: 'calendar-days', count: 7 }, isWorkday)).toBe(bj('2025-10-08T00:00:00'));
    expect(defaultDeadline(bj('2025-10-01T00:00:00'), { unit: 'calendar-days', count: 7 }, isWorkday)).toBe(bj('2025-10-09T00:00:00'));
  });

  it('7 working days across 国庆 2025: the holiday week is skipped and the 调休 Saturday counts', () => {
    // From Tue 30 Sep: Oct 1–8 off; Thu 9 (1), Fri 10 (2), Sat 11 调休 (3), Mon 13 (4) … Thu 16 (7).
    const d = defaultDeadline(bj('2025-09-30T10:00:00'), { unit: 'working-days', count: 7 }, isWorkday);
    expect(d).toBe(bj('2025-10-17T00:00:00'));
    // Weekdays alone would have ended on 10 October: the calendar matters.
    const weekdaysOnly = (date: string) => ![0, 6].includes(new Date(`${date}T12:00:00Z`).getUTCDay());
    expect(defaultDeadline(bj('2025-09-30T10:00:00'), { unit: 'working-days', count: 7 }, weekdaysOnly)).toBe(bj('2025-10-10T00:00:00'));
  });

  it('the 调休 Sunday before the holiday counts too', () => {
    // From Fri 26 Sep: Sat 27 off, Sun 28 调休 (1), Mon 29 (2), Tue 30 (3) → ends 24:00 on 30 Sep.
    expect(defaultDeadline(bj('2025-09-26T09:00:00'), { unit: 'working-days', count: 3 }, isWorkday)).toBe(bj('2025-10-01T00:00:00'));
  });

  it("day arithmetic is in Beijing time whatever the server's zone", () => {
    expect(chinaDay(bj('2025-10-11T00:30:00'))).toBe('2025-10-11');
    expect(chinaDay(Date.parse('2025-10-10T16:30:00Z'))).toBe('2025-10-11');
  });
});
