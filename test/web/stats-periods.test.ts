/**
 * The statistics of a period are read from month and day counts, adding ragged days or taking a
 * month whole and subtracting the days outside the period (hub/stats/queries.ts coverPeriod).
 * Whatever the split, the figures must be those of a recount of the facts of exactly those days.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dayNumber, numberFromDay } from '../../hub/calendar/working-days.js';
import { ROLLUP_KEYS, YEARLY_COUNTS_MIGRATION } from '../../hub/stats/facts.js';
import { coverPeriod } from '../../hub/stats/queries.js';
import { closeStatsHall, NOW, statsHall, type StatsHall } from '../helpers/stats-hall.js';

let env: StatsHall | null = null;
afterEach(async () => {
  if (env) await closeStatsHall(env);
  env = null;
});

const COLS = ['n1', 'n2', 'n3', 'n4', 'n5', 'invalid', 'flagged', 'misuse'] as const;

describe('statistics of a period', () => {
  it('equal a recount of the facts of exactly those days, for any range and every dimension', async () => {
    env = await statsHall();
    const e = env;
    const today = dayNumber(NOW);
    const first = today - 730;
    // Month boundaries, single days, ranges within one month, across years, ending today, starting before the data.
    const ranges: [number, number][] = [
      [today, today],
      [numberFromDay('2026-11-01'), today],
      [numberFromDay('2026-01-01'), today],
      [numberFromDay('2025-02-01'), numberFromDay('2025-02-28')],
      [numberFromDay('2025-02-02'), numberFromDay('2025-02-27')],
      [numberFromDay('2025-03-31'), numberFromDay('2025-04-01')],
      [first - 40, today + 40],
    ];
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n) | 0;
    for (let i = 0; i < 60; i++) {
      const a = first - 10 + rnd(760);
      ranges.push([a, a + rnd(i % 3 === 0 ? 500 : 70)]);
    }
    const splits = new Set<string>();
    for (const [from, to] of ranges) {
      const c = coverPeriod(from, to, today);
      splits.add(`${c.s1},${c.s2},${c.sm1},${c.sm2},${c.ma1 <= c.mb1},${c.y1 <= c.y2}`);
      for (const [dim, expr] of ROLLUP_KEYS) {
        if (dim === 'hall') continue;
        const recount = e.db
          .prepare<[number, number], Record<string, number> & { key: string }>(
            `SELECT ${expr} AS key, ${[1, 2, 3, 4, 5].map((l) => `sum(level = ${l} AND excluded IS NULL) AS n${l}`).join(', ')},
              sum(excluded IS 'invalid') AS invalid, sum(flagged = 1 AND excluded IS NULL) AS flagged, sum(excluded IS 'misuse') AS misuse
             FROM rating_facts WHERE excluded IS NOT 'superseded' AND day BETWEEN ? AND ? GROUP BY key`,
          )
          .all(from, to)
          .filter((r) => COLS.some((k) => r[k] !== 0));
        const want = Object.fromEntries(recount.map((r) => [r.key, Object.fromEntries(COLS.map((k) => [k, r[k]]))]));
        const got = Object.fromEntries(
          e.web.stats.byDim(dim, from, to).map((r) => [r.key, Object.fromEntries(COLS.map((k) => [k, r.counts[k]]))]),
        );
        expect(got, `${dim} ${from}..${to}`).toEqual(want);
      }
    }
    // The ranges took many kinds of split: days and months added and subtracted, with and without whole years.
    expect(splits.size).toBeGreaterThanOrEqual(8);
  });

  it('reads this month to today from one month row, this year from one year row, three years from a few', () => {
    const today = numberFromDay('2026-11-20');
    const nothing = (a: number, b: number) => expect(a).toBeGreaterThan(b);
    const month = coverPeriod(numberFromDay('2026-11-01'), today, today);
    expect(month).toMatchObject({ ma1: 2026 * 12 + 10, mb1: 2026 * 12 + 10, sm1: 1 });
    nothing(month.y1, month.y2);
    // The days subtracted are before the 1st (none) and after the newest day with counts (none).
    nothing(month.a1, month.b1);
    expect(month.a2).toBeGreaterThan(today);
    const year = coverPeriod(numberFromDay('2026-01-01'), today, today);
    expect(year).toMatchObject({ y1: 2026, y2: 2026, sm2: -1 });
    expect(year.ma2).toBeGreaterThan(2026 * 12 + 10); // December, not yet counted
    nothing(year.ma1, year.mb1);
    const three = coverPeriod(numberFromDay('2023-11-22'), today, today);
    expect(three).toMatchObject({
      y1: 2024,
      y2: 2026,
      ma1: 2023 * 12 + 11,
      mb1: 2023 * 12 + 11,
      sm1: 1,
      a1: numberFromDay('2023-11-22'),
      s1: 1,
    });
    // Three days in the middle of a month: added, not a month less 27 days.
    const few = coverPeriod(numberFromDay('2025-06-10'), numberFromDay('2025-06-12'), today);
    expect(few).toMatchObject({ a1: numberFromDay('2025-06-10'), b1: numberFromDay('2025-06-12'), s1: 1 });
    nothing(few.y1, few.y2);
    nothing(few.ma1, few.mb1);
  });

  it('a hub upgrading gets its yearly counts from the monthly counts it has', async () => {
    env = await statsHall();
    env.db.exec('DROP TABLE stat_yearly');
    env.db.transaction(() => env!.db.exec(YEARLY_COUNTS_MIGRATION))();
    expect(env.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM stat_yearly').get()!.n).toBeGreaterThan(0);
    expect(env.web.facts.checkRollups()).toEqual([]);
  });
});
