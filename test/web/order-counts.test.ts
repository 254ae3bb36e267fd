/**
 * The statistics page's rectification summary (work orders by state, ever late) is read from
 * counts per day of creation and state that triggers keep (hub/stats/order-counts.ts). They must
 * equal a recount of the work orders after orders are opened, moved through the machine and
 * late — and a hub upgrading with orders already stored gets them counted by the migration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dayNumber } from '../../hub/calendar/working-days.js';
import { checkOrderCounts, ORDER_COUNTS_MIGRATION } from '../../hub/stats/order-counts.js';
import { closeStatsHall, NOW, statsHall, type StatsHall } from '../helpers/stats-hall.js';

let env: StatsHall | null = null;
afterEach(async () => {
  if (env) await closeStatsHall(env);
  env = null;
});

const DAY = 86_400_000;
const sup = { name: 'sup', role: 'supervisor' as const };

/** What the summary should say for days [from, to]: counted straight from work_orders. */
function recount(e: StatsHall, from: number, to: number) {
  return e.db
    .prepare<[number, number], { state: string; n: number; late: number }>(
      `SELECT state, count(*) AS n, sum(late_stages > 0) AS late FROM work_orders
       WHERE created_at BETWEEN ? AND ? GROUP BY state ORDER BY state`,
    )
    .all(from * DAY - 8 * 3_600_000, (to + 1) * DAY - 8 * 3_600_000 - 1);
}
const sorted = <T extends { state: string }>(rows: T[]) => [...rows].sort((a, b) => (a.state < b.state ? -1 : 1));

describe('work-order counts behind the rectification summary', () => {
  it('equal a recount of the work orders as orders open, move through the machine and run late', async () => {
    env = await statsHall();
    const e = env;
    const orders = e.db.prepare<[], { id: number; created_at: number }>('SELECT id, created_at FROM work_orders ORDER BY id').all();
    expect(orders.length).toBeGreaterThan(20);
    expect(checkOrderCounts(e.db)).toEqual([]);
    // Confirm every other order on time, rectify some of them a month late, close a few.
    for (const [i, o] of orders.entries()) {
      if (i % 2) continue;
      e.clock.t = o.created_at + 3_600_000;
      e.web.workOrders.act(o.id, { type: 'confirm', class: 'simple' }, sup);
      if (i % 4) continue;
      e.clock.t = o.created_at + 30 * DAY;
      e.web.workOrders.act(o.id, { type: 'rectify', note: '已整改' }, sup);
      if (i % 8) continue;
      e.web.workOrders.act(o.id, { type: 'revisit', satisfied: true, note: '满意' }, sup);
    }
    e.clock.t = NOW;
    expect(checkOrderCounts(e.db)).toEqual([]);
    const states = recount(e, 0, 99_999);
    expect(states.map((s) => s.state)).toEqual(expect.arrayContaining(['closed', 'new', 'revisit']));
    expect(states.some((s) => s.late > 0)).toBe(true);
    // Any period: the summary from the counts equals the recount.
    const today = dayNumber(NOW);
    for (const [from, to] of [
      [0, 99_999],
      [today - 365, today],
      [today - 400, today - 200],
      [today, today],
    ] as const)
      expect(sorted(e.web.stats.orderSummary(from, to)), `${from}..${to}`).toEqual(recount(e, from, to));
  });

  it('notices a count that disagrees with the work orders', async () => {
    env = await statsHall();
    env.db.exec('UPDATE work_order_daily SET n = n + 1 WHERE day = (SELECT min(day) FROM work_order_daily)');
    expect(checkOrderCounts(env.db)).toHaveLength(2); // the kept row and the recount differ
  });

  it('counts the work orders an existing hub already has when it upgrades', async () => {
    env = await statsHall();
    const e = env;
    // The hub as it was before the counts: no table, no triggers.
    e.db.exec('DROP TRIGGER work_order_daily_insert; DROP TRIGGER work_order_daily_update; DROP TABLE work_order_daily');
    e.db.transaction(() => e.db.exec(ORDER_COUNTS_MIGRATION))();
    expect(e.db.prepare<[], { n: number }>('SELECT sum(n) AS n FROM work_order_daily').get()!.n).toBe(
      e.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM work_orders').get()!.n,
    );
    expect(checkOrderCounts(e.db)).toEqual([]);
  });
});
