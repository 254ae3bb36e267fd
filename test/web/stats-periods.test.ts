/**
 * The statistics of a period are read from month and day counts, adding ragged days or taking a
 * month whole and subtracting the days outside the period (hub/stats/queries.ts coverPeriod).
 * Whatever the split, the figures must be those of a recount of the facts of exactly those days.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dayNumber, numberFromDay } from '../../hub/calendar/working-days.js';
import { ROLLUP_KEYS } from '../../hub/stats/facts.js';
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
      splits.add(`${c.s1},${c.s2},${c.m1 <= c.m2}`);
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
    // The ranges took every kind of split: added and subtracted ends, with and without whole months.
    expect(splits.size).toBeGreaterThanOrEqual(5);
  });

  it('reads this month and this year to today from month rows alone (no days to add or subtract)', () => {
    const today = numberFromDay('2026-11-20');
    expect(coverPeriod(numberFromDay('2026-11-01'), today, today)).toMatchObject({ m1: 2026 * 12 + 10, m2: 2026 * 12 + 10, s2: -1 });
    const year = coverPeriod(numberFromDay('2026-01-01'), today, today);
    expect(year).toMatchObject({ m1: 2026 * 12, m2: 2026 * 12 + 10, s1: -1, s2: -1 });
    // The subtracted days are before the period's first day and after the newest day with counts: none.
    expect(year.b1).toBeLessThan(year.a1);
    expect(year.a2).toBeGreaterThan(today);
    // Three days in the middle of a month: added, not a month less 27 days.
    expect(coverPeriod(numberFromDay('2025-06-10'), numberFromDay('2025-06-12'), today)).toMatchObject({ m1: 1, m2: 0, s1: 1 });
  });
});
