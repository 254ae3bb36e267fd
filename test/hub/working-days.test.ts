import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addWorkingDays,
  CalendarFileError,
  chinaDay,
  isWorkingDay,
  loadCalendar,
  startOfChinaDay,
  WorkingDayCalendar,
} from '../../hub/calendar/working-days.js';
import { CLI_PATH } from '../../simulator/processes.js';

const china = (s: string) => Date.parse(s + '+08:00');

describe('the one working-day calendar in China time (official calendar with 调休, plus the --holiday-file overrides)', () => {
  it('takes the calendar day in China time, not UTC', () => {
    expect(chinaDay(Date.parse('2026-05-01T15:59:59Z'))).toBe('2026-05-01');
    expect(chinaDay(Date.parse('2026-05-01T16:00:00Z'))).toBe('2026-05-02');
    expect(startOfChinaDay('2026-05-02')).toBe(Date.parse('2026-05-01T16:00:00Z'));
  });

  it('knows statutory holidays and make-up working Saturdays/Sundays', () => {
    expect(isWorkingDay('2026-10-01')).toBe(false); // 国庆
    expect(isWorkingDay('2026-10-07')).toBe(false);
    expect(isWorkingDay('2026-10-10')).toBe(true); // Saturday, 调休 working day
    expect(isWorkingDay('2026-09-20')).toBe(true); // Sunday, 调休
    expect(isWorkingDay('2026-02-14')).toBe(true); // Saturday before 春节, 调休
    expect(isWorkingDay('2026-02-18')).toBe(false); // 春节
    expect(isWorkingDay('2026-03-07')).toBe(false); // an ordinary Saturday
    expect(isWorkingDay('2026-03-09')).toBe(true); // an ordinary Monday
    expect(isWorkingDay(china('2026-10-01T23:30:00'))).toBe(false); // instants are read in China time
  });

  it('knows 2025 too: 国庆/中秋 with the 调休 Sunday before and Saturday after', () => {
    const cal = new WorkingDayCalendar();
    expect(cal.isWorkingDay('2025-10-01')).toBe(false);
    expect(cal.isWorkingDay('2025-10-08')).toBe(false);
    expect(cal.isWorkingDay('2025-09-28')).toBe(true); // Sunday, 调休
    expect(cal.isWorkingDay('2025-10-11')).toBe(true); // Saturday, 调休
    expect(cal.isWorkingDay('2025-10-12')).toBe(false); // an ordinary Sunday
    expect(cal.covers(2025)).toBe(true);
  });

  it('counts working days after the start day, across 国庆 with its make-up Saturday', () => {
    // Received Wed 30 Sep: Oct 1–7 off; Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13.
    expect(addWorkingDays(china('2026-09-30T10:00:00'), 5)).toBe('2026-10-13');
    expect(addWorkingDays('2026-09-30', 1)).toBe('2026-10-08');
    expect(addWorkingDays('2026-10-03', 0)).toBe('2026-10-08'); // n = 0: the next working day from a holiday
    expect(addWorkingDays('2026-10-09', 0)).toBe('2026-10-09');
  });

  it('counts across 春节', () => {
    // Fri 13 Feb: Sat 14 is a working day, then 15–23 off, Tue 24.
    expect(addWorkingDays('2026-02-13', 2)).toBe('2026-02-24');
    expect(new WorkingDayCalendar().workingDaysBetween('2026-02-13', '2026-02-24')).toBe(2);
  });

  it('takes an override file for days the package does not know yet or the hall closes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-cal-'));
    const file = join(dir, 'calendar.json');
    writeFileSync(file, JSON.stringify({ holidays: ['2026-03-09'], workdays: ['2026-03-07'], years: [2099] }));
    const cal = loadCalendar(file);
    expect(cal.isWorkingDay('2026-03-09')).toBe(false);
    expect(cal.isWorkingDay('2026-03-07')).toBe(true);
    expect(cal.addWorkingDays('2026-03-06', 1)).toBe('2026-03-07');
    expect(cal.covers(2099)).toBe(true);
    expect(cal.covers(2026)).toBe(true);
    expect(new WorkingDayCalendar().covers(2099)).toBe(false);
  });

  it('explains a broken override file in words hall IT can act on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-cal-'));
    const file = join(dir, 'calendar.json');
    writeFileSync(file, JSON.stringify({ holidays: ['9 March'] }));
    expect(() => loadCalendar(file)).toThrow(CalendarFileError);
    expect(() => loadCalendar(file)).toThrow(/holidays must be dates written YYYY-MM-DD/);
    expect(() => loadCalendar(join(dir, 'missing.json'))).toThrow(/cannot read the working-day override file/);
    expect(() => new WorkingDayCalendar({ holidays: ['2026-03-09'], workdays: ['2026-03-09'] })).toThrow(
      /both as a workday and as a holiday/,
    );
    writeFileSync(file, JSON.stringify({ holidays: ['2026-03-09'], workdays: ['2026-03-09'] }));
    expect(() => loadCalendar(file)).toThrow(CalendarFileError);
    // A file that is not JSON, or has a key the calendar does not know, is refused too.
    writeFileSync(file, JSON.stringify({ holiday: ['2026-03-09'] }));
    expect(() => loadCalendar(file)).toThrow(CalendarFileError);
  });
});

describe('haochaping hub --holiday-file', () => {
  it('refuses a bad override file in one line hall IT can act on, exit 2, before it opens anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-cal-'));
    const file = join(dir, 'holidays.json');
    writeFileSync(file, JSON.stringify({ holidays: ['9 March'] }));
    const r = spawnSync(
      process.execPath,
      [CLI_PATH, 'hub', '--data', join(dir, 'hub'), '--mqtt-port', '0', '--http-port', '0', '--holiday-file', file],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/working-day override file .*holidays must be dates written YYYY-MM-DD/);
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 30_000);
});
