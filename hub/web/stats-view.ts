/**
 * Statistics for a period, as the hall page shows them: the summary, the trend, the tables by
 * window/staff/item/channel, invalidated and flagged ratings, work orders. Shared by the page,
 * its JSON API, the CSV export and the benchmark.
 */
import { HttpError } from '../../common/errors.js';
import { z } from 'zod';
import { addDays, chinaDay, numberFromDay, startOfChinaDay, weekday } from '../calendar/working-days.js';
import type { Grain } from '../stats/queries.js';
import type { HallWeb } from './hall-web.js';
import type { StatsView } from './pages.js';

export interface StatsRequest {
  from: string;
  to: string;
  grain: Grain;
  dim?: 'window' | 'staff' | 'item' | 'channel';
  key?: string;
  /** The flagged-ratings list: only this flag (e.g. no-session). */
  flag?: string;
}

export function presetRange(preset: string, now: number): { from: string; to: string } {
  const today = chinaDay(now);
  switch (preset) {
    case 'today':
      return { from: today, to: today };
    case 'week':
      return { from: addDays(today, -((weekday(today) + 6) % 7)), to: today };
    case 'year':
      return { from: today.slice(0, 4) + '-01-01', to: today };
    default:
      return { from: today.slice(0, 7) + '-01', to: today };
  }
}

export function computeStats(web: HallWeb, r: StatsRequest): StatsView {
  const timings: Record<string, number> = {};
  const time = <T>(name: string, f: () => T): T => {
    const t0 = performance.now();
    const v = f();
    timings[name] = performance.now() - t0;
    return v;
  };
  const from = numberFromDay(r.from);
  const to = numberFromDay(r.to);
  const t0 = performance.now();
  const summary = time('summary', () => web.stats.summary(from, to));
  const trend = time('trend', () =>
    r.dim && r.key !== undefined ? web.stats.trend(from, to, r.grain, r.dim, r.key) : web.stats.trend(from, to, r.grain),
  );
  const tables = {
    window: time('window', () => web.stats.byDim('window', from, to)),
    staff: time('staff', () => web.stats.byDim('staff', from, to)),
    item: time('item', () => web.stats.byDim('item', from, to)),
    channel: time('channel', () => web.stats.byDim('channel', from, to)),
  };
  const invalidated = time('invalidated', () => web.stats.invalidated(startOfChinaDay(r.from), startOfChinaDay(addDays(r.to, 1)) - 1));
  const flagged = time('flagged', () => web.stats.flagged(startOfChinaDay(r.from), startOfChinaDay(addDays(r.to, 1)) - 1, r.flag ?? null));
  const orders = time('workorders', () => web.stats.orderSummary(from, to));
  const items = web.stats.itemNames(tables.item.map((r) => r.key));
  const windowNames = web.windowNames();
  timings.total = performance.now() - t0;
  const dimLabel = r.dim ? { window: '窗口', staff: '工作人员', item: '事项', channel: '渠道' }[r.dim] : '';
  return {
    from: r.from,
    to: r.to,
    grain: r.grain,
    summary,
    trend,
    trendTitle: r.dim ? `${dimLabel} ${r.key === '' ? '（未登记）' : r.key} 的评价趋势` : '全厅评价趋势',
    tables,
    labels: { window: windowNames, staff: web.staffNames(), item: new Map([...items].map(([c, n]) => [c, n ? `${n}（${c}）` : c])) },
    invalidated,
    flagged,
    flag: r.flag ?? null,
    orders,
    timings,
  };
}

/** A calendar day: "2026-99-01" or "2026-02-30" is a 400 naming the parameter, never a 500 or March 2. */
export const DayParam = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD')
  .refine((s) => {
    const t = Date.parse(s + 'T00:00:00Z');
    return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
  }, 'is not a day on the calendar')
  // The day after 9999-12-31 has no four-digit year: the range arithmetic would fail (a 500).
  .refine((s) => s >= '1970-01-01' && s <= '9998-12-31', 'must be between 1970-01-01 and 9998-12-31');

export const StatsQuery = z.object({
  preset: z.enum(['today', 'week', 'month', 'year']).optional(),
  from: DayParam.optional(),
  to: DayParam.optional(),
  grain: z.enum(['day', 'week', 'month']).optional(),
  dim: z.enum(['window', 'staff', 'item', 'channel']).optional(),
  key: z.string().max(200).optional(),
  table: z.enum(['window', 'staff', 'item', 'channel', 'trend', 'invalid', 'flagged']).optional(),
  flag: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/)
    .optional(),
});

export function statsRequest(q: unknown, now: number): StatsRequest {
  const p = StatsQuery.parse(q);
  let { from, to } = p.preset || !p.from || !p.to ? presetRange(p.preset ?? 'month', now) : { from: p.from, to: p.to };
  if (from > to) [from, to] = [to, from];
  const days = numberFromDay(to) - numberFromDay(from);
  if (days > 3 * 366) throw new HttpError(400, 'range-too-long', '查询范围不能超过三年');
  const grain = p.grain ?? (days > 92 ? 'month' : days > 31 ? 'week' : 'day');
  return { from, to, grain, ...(p.dim ? { dim: p.dim, key: p.key ?? '' } : {}), ...(p.flag ? { flag: p.flag } : {}) };
}
