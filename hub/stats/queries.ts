/**
 * The statistics the page shows, read from the daily counts (stat_daily) and the facts.
 * Periods are China calendar days, inclusive. Each statement is a named constant so the
 * benchmark can print its query plan and prove every one of them uses an index.
 */
import { dayFromNumber, numberFromDay, weekday } from '../calendar/working-days.js';
import type { Db } from '../store/db.js';
import { monthOfDay, type Dim } from './facts.js';
import { ORDER_SUMMARY_SQL } from './order-counts.js';

export interface Counts {
  n1: number;
  n2: number;
  n3: number;
  n4: number;
  n5: number;
  /** Ratings found invalid on appeal: shown, not counted in the rates. */
  invalid: number;
  /** Counted ratings the hall's flag policy marks (e.g. too-soon): part of n1..n5. */
  flagged: number;
  /** Ratings the flag policy excludes (e.g. no session in session mode): kept, not counted. */
  misuse: number;
}

export interface Rates extends Counts {
  total: number;
  /** 差评: levels 1–2. */
  bad: number;
  /** 满意率: levels 3–5 over all valid ratings (非常满意 + 满意 + 基本满意). */
  satisfaction: number | null;
  /** 好评率: levels 4–5. */
  good: number | null;
  badRate: number | null;
}

/**
 * A page reads thousands of rows (400 windows, 800 staff, a year by day): the counts are copied
 * field by field, not spread from the row (spreading and rest-destructuring a row object cost more
 * than the query that read it).
 */
export function rates(c: Counts): Rates {
  const total = c.n1 + c.n2 + c.n3 + c.n4 + c.n5;
  const bad = c.n1 + c.n2;
  return {
    n1: c.n1,
    n2: c.n2,
    n3: c.n3,
    n4: c.n4,
    n5: c.n5,
    invalid: c.invalid,
    flagged: c.flagged,
    misuse: c.misuse,
    total,
    bad,
    satisfaction: total ? (c.n3 + c.n4 + c.n5) / total : null,
    good: total ? (c.n4 + c.n5) / total : null,
    badRate: total ? bad / total : null,
  };
}

const SUMS =
  'sum(n1) AS n1, sum(n2) AS n2, sum(n3) AS n3, sum(n4) AS n4, sum(n5) AS n5, sum(invalid) AS invalid, sum(flagged) AS flagged, sum(misuse) AS misuse';
const COLS = 'n1, n2, n3, n4, n5, invalid, flagged, misuse';
const signed = (sign: string) =>
  COLS.split(', ')
    .map((c) => `${sign} * ${c} AS ${c}`)
    .join(', ');
const NONZERO = COLS.split(', ')
  .map((c) => `sum(${c}) <> 0`)
  .join(' OR ');

export const STAT_SQL = {
  /**
   * One dimension (window, staff, item, channel) over a period (coverPeriod): whole years from
   * the yearly counts, months and days at each end added to them or, for a year or month taken
   * whole, subtracted (@sm1, @sm2, @s1, @s2 = 1 or -1). A key whose counts come to nothing is left out.
   */
  byDim: `SELECT key, ${SUMS} FROM (
      SELECT key, ${COLS} FROM stat_yearly WHERE dim = @dim AND year BETWEEN @y1 AND @y2
      UNION ALL SELECT key, ${signed('@sm1')} FROM stat_monthly WHERE dim = @dim AND month BETWEEN @ma1 AND @mb1
      UNION ALL SELECT key, ${signed('@sm2')} FROM stat_monthly WHERE dim = @dim AND month BETWEEN @ma2 AND @mb2
      UNION ALL SELECT key, ${signed('@s1')} FROM stat_daily WHERE dim = @dim AND day BETWEEN @a1 AND @b1
      UNION ALL SELECT key, ${signed('@s2')} FROM stat_daily WHERE dim = @dim AND day BETWEEN @a2 AND @b2
    ) GROUP BY key HAVING ${NONZERO}`,
  /** The newest day with counts (days after it cost nothing to subtract). */
  lastDay: `SELECT max(day) AS day FROM stat_daily WHERE dim = 'hall'`,
  /** Daily counts of the whole hall (summary, day/week/month trend). */
  hallDays: `SELECT day, ${COLS} FROM stat_daily INDEXED BY stat_daily_key WHERE dim = 'hall' AND key = '' AND day BETWEEN ? AND ?`,
  /**
   * Daily counts of one window / staff member / item / channel (its trend). INDEXED BY: with
   * statistics gathered, SQLite would rather range over (dim, day) and filter 399 other
   * windows' rows out than seek (dim, key, day).
   */
  keyDays: `SELECT day, ${COLS} FROM stat_daily INDEXED BY stat_daily_key WHERE dim = ? AND key = ? AND day BETWEEN ? AND ?`,
  /** Ratings found invalid on appeal, newest first. */
  invalidated: `SELECT f.id, f.at, f.window, f.staff_id, f.item_code, f.level, w.id AS order_id
    FROM rating_facts f LEFT JOIN work_orders w ON w.rating_id = f.id
    WHERE f.excluded = 'invalid' AND f.at BETWEEN ? AND ? ORDER BY f.at DESC LIMIT ?`,
  /** The latest ratings (the wall's live feed after a reload). */
  // With the latest text a citizen gave on the QR page for it (hub/citizen/), shown beside the rating on the wall.
  recent: `SELECT id, at, window, staff_id, item_code, level, channel, excluded, flags,
    (SELECT c.text FROM citizen_submissions c WHERE (c.subject = f.id OR c.evaluation_id = f.id) AND c.text IS NOT NULL ORDER BY c.at DESC LIMIT 1) AS citizen_text
    FROM rating_facts f ORDER BY at DESC LIMIT ?`,
  /** Flagged and excluded-as-misuse ratings of a period, newest first (optionally one flag). */
  flagged: `SELECT id, at, window, staff_id, item_code, level, channel, device, excluded, flags FROM rating_facts INDEXED BY rating_facts_flagged
    WHERE flags IS NOT NULL AND at BETWEEN @from AND @to AND (@flag IS NULL OR ',' || flags || ',' LIKE '%,' || @flag || ',%') ORDER BY at DESC LIMIT @limit`,
  /** Ratings of one window within the last minutes (差评 cluster alerts). */
  windowRecent: `SELECT count(*) AS total, coalesce(sum(level <= 2), 0) AS bad FROM rating_facts WHERE window = ? AND at > ? AND excluded IS NULL`,
  /** The names of the items shown (a table of a period lists only the items rated in it). */
  itemNames: `SELECT code, name FROM stat_items WHERE code IN (SELECT value FROM json_each(?))`,
} as const;

export interface FlaggedRow {
  id: string;
  at: number;
  window: string;
  staff_id: string | null;
  item_code: string | null;
  level: number;
  channel: string;
  device: string | null;
  /** 'misuse': excluded by the flag policy (not counted); null: counted, flagged. */
  excluded: string | null;
  /** Comma-joined flags. */
  flags: string;
}

export interface DimRow {
  key: string;
  counts: Rates;
}

export interface TrendPoint {
  /** 'YYYY-MM-DD' (day, week starting Monday) or 'YYYY-MM' (month). */
  period: string;
  counts: Rates;
}

export type Grain = 'day' | 'week' | 'month';

const ZERO: Counts = { n1: 0, n2: 0, n3: 0, n4: 0, n5: 0, invalid: 0, flagged: 0, misuse: 0 };
const add = (a: Counts, b: Counts): Counts => ({
  n1: a.n1 + b.n1,
  n2: a.n2 + b.n2,
  n3: a.n3 + b.n3,
  n4: a.n4 + b.n4,
  n5: a.n5 + b.n5,
  invalid: a.invalid + b.invalid,
  flagged: a.flagged + b.flagged,
  misuse: a.misuse + b.misuse,
});

const monthStart = (m: number) => numberFromDay(`${Math.floor(m / 12)}-${String((m % 12) + 1).padStart(2, '0')}-01`);

/** Splits days [from, to] into whole months and the ragged days before and after them. */
export function splitPeriod(from: number, to: number): { m1: number; m2: number; a1: number; b1: number; a2: number; b2: number } {
  const none = { m1: 1, m2: 0 };
  let m1 = monthOfDay(from);
  if (monthStart(m1) < from) m1++;
  let m2 = monthOfDay(to);
  if (monthStart(m2 + 1) - 1 > to) m2--;
  if (m1 > m2) return { ...none, a1: from, b1: to, a2: 1, b2: 0 };
  return { m1, m2, a1: from, b1: monthStart(m1) - 1, a2: monthStart(m2 + 1), b2: to };
}

/** Units [lo, hi] of a finer period (days, months) as whole coarser ones (months, years) ± fine units at each end. */
interface Split {
  /** The whole coarse units (none if c1 > c2). */
  c1: number;
  c2: number;
  /** s × the fine units [a, b] at the start and at the end (none if a > b). */
  head: { a: number; b: number; s: number };
  tail: { a: number; b: number; s: number };
}

/**
 * At each end either the ragged fine units are added, or the coarse unit is taken whole and the
 * fine units outside [lo, hi] subtracted — whichever reads fewer rows (`cost`: the fine units of
 * a range that have counts; a coarse row costs about one fine unit's rows).
 */
function split(
  lo: number,
  hi: number,
  coarseOf: (u: number) => number,
  startOf: (c: number) => number,
  cost: (a: number, b: number) => number,
): Split {
  const C1 = coarseOf(lo);
  const C2 = coarseOf(hi);
  const start1 = startOf(C1);
  const end2 = startOf(C2 + 1) - 1;
  const none = { a: 1, b: 0, s: 1 };
  if (C1 === C2) {
    if (cost(lo, hi) <= 1 + cost(start1, lo - 1) + cost(hi + 1, end2)) return { c1: 1, c2: 0, head: { a: lo, b: hi, s: 1 }, tail: none };
    return { c1: C1, c2: C1, head: { a: start1, b: lo - 1, s: -1 }, tail: { a: hi + 1, b: end2, s: -1 } };
  }
  const end1 = startOf(C1 + 1) - 1;
  const start2 = startOf(C2);
  const addHead = cost(lo, end1) < 1 + cost(start1, lo - 1);
  const addTail = cost(start2, hi) < 1 + cost(hi + 1, end2);
  return {
    c1: addHead ? C1 + 1 : C1,
    c2: addTail ? C2 - 1 : C2,
    head: addHead ? { a: lo, b: end1, s: 1 } : { a: start1, b: lo - 1, s: -1 },
    tail: addTail ? { a: start2, b: hi, s: 1 } : { a: hi + 1, b: end2, s: -1 },
  };
}

export interface Cover {
  /** Whole years. */
  y1: number;
  y2: number;
  /** sm1 × months ma1..mb1 and sm2 × months ma2..mb2. */
  ma1: number;
  mb1: number;
  sm1: number;
  ma2: number;
  mb2: number;
  sm2: number;
  /** s1 × days a1..b1 and s2 × days a2..b2. */
  a1: number;
  b1: number;
  s1: number;
  a2: number;
  b2: number;
  s2: number;
}

/**
 * How one dimension's counts for days [from, to] are read: the yearly counts of whole years,
 * plus or minus months at each end, plus or minus days at each end. At each end either the
 * ragged units are added or the enclosing month (year) taken whole and the units outside the
 * period subtracted, whichever reads fewer rows — units after `lastDay`, the newest day with
 * counts, cost nothing. So this month to today reads one month row per key, this year to today
 * one year row, three years ~4 year and month rows and the ragged days (a day's or a month's rows
 * are ~1,500 at 400 windows).
 */
export function coverPeriod(from: number, to: number, lastDay: number): Cover {
  const lastMonth = monthOfDay(lastDay);
  const days = split(from, to, monthOfDay, monthStart, (a, b) => Math.max(0, Math.min(b, lastDay) - a + 1));
  const d = { a1: days.head.a, b1: days.head.b, s1: days.head.s, a2: days.tail.a, b2: days.tail.b, s2: days.tail.s };
  if (days.c1 > days.c2) return { y1: 1, y2: 0, ma1: 1, mb1: 0, sm1: 1, ma2: 1, mb2: 0, sm2: 1, ...d };
  const months = split(
    days.c1,
    days.c2,
    (m) => Math.floor(m / 12),
    (y) => y * 12,
    (a, b) => Math.max(0, Math.min(b, lastMonth) - a + 1),
  );
  return {
    y1: months.c1,
    y2: months.c2,
    ma1: months.head.a,
    mb1: months.head.b,
    sm1: months.head.s,
    ma2: months.tail.a,
    mb2: months.tail.b,
    sm2: months.tail.s,
    ...d,
  };
}

export function periodOf(day: number, grain: Grain): string {
  const d = dayFromNumber(day);
  if (grain === 'day') return d;
  if (grain === 'month') return d.slice(0, 7);
  return dayFromNumber(day - ((weekday(d) + 6) % 7)); // back to Monday
}

export class StatsQueries {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      byDim: db.prepare<[Record<string, unknown>], Counts & { key: string }>(STAT_SQL.byDim),
      lastDay: db.prepare<[], { day: number | null }>(STAT_SQL.lastDay),
      hallDays: db.prepare<[number, number], Counts & { day: number }>(STAT_SQL.hallDays),
      keyDays: db.prepare<[string, string, number, number], Counts & { day: number }>(STAT_SQL.keyDays),
      invalidated: db.prepare<
        [number, number, number],
        {
          id: string;
          at: number;
          window: string;
          staff_id: string | null;
          item_code: string | null;
          level: number;
          order_id: number | null;
        }
      >(STAT_SQL.invalidated),
      recent: db.prepare<
        [number],
        {
          id: string;
          at: number;
          window: string;
          staff_id: string | null;
          item_code: string | null;
          level: number;
          channel: string;
          excluded: string | null;
          flags: string | null;
          citizen_text: string | null;
        }
      >(STAT_SQL.recent),
      flagged: db.prepare<[{ from: number; to: number; flag: string | null; limit: number }], FlaggedRow>(STAT_SQL.flagged),
      windowRecent: db.prepare<[string, number], { total: number; bad: number }>(STAT_SQL.windowRecent),
      itemNames: db.prepare<[string], { code: string; name: string | null }>(STAT_SQL.itemNames),
      orderSummary: db.prepare<[number, number], { state: string; n: number; late: number }>(ORDER_SUMMARY_SQL),
    };
  }

  byDim(dim: Exclude<Dim, 'hall'>, fromDay: number, toDay: number): DimRow[] {
    const lastDay = this.s.lastDay.get()!.day ?? toDay;
    return this.s.byDim.all({ dim, ...coverPeriod(fromDay, toDay, lastDay) }).map((r) => ({ key: r.key, counts: rates(r) }));
  }

  /** Trend of the hall, or of one key of a dimension, by day, week or month. */
  trend(fromDay: number, toDay: number, grain: Grain, dim: Dim = 'hall', key = ''): TrendPoint[] {
    const rows = dim === 'hall' ? this.s.hallDays.all(fromDay, toDay) : this.s.keyDays.all(dim, key, fromDay, toDay);
    const byPeriod = new Map<string, Counts>();
    for (const r of rows) {
      const p = periodOf(r.day, grain);
      byPeriod.set(p, add(byPeriod.get(p) ?? ZERO, r));
    }
    return [...byPeriod.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([period, c]) => ({ period, counts: rates(c) }));
  }

  summary(fromDay: number, toDay: number): Rates {
    return rates(this.s.hallDays.all(fromDay, toDay).reduce<Counts>(add, ZERO));
  }

  invalidated(fromMs: number, toMs: number, limit = 200) {
    return this.s.invalidated.all(fromMs, toMs, limit);
  }

  recent(limit = 20) {
    return this.s.recent.all(limit);
  }

  /** Ratings with flags shown (counted-but-flagged and excluded misuse) in [fromMs, toMs], newest first. */
  flagged(fromMs: number, toMs: number, flag: string | null = null, limit = 500): FlaggedRow[] {
    return this.s.flagged.all({ from: fromMs, to: toMs, flag, limit });
  }

  windowRecent(window: string, sinceMs: number): { total: number; bad: number } {
    return this.s.windowRecent.get(window, sinceMs)!;
  }

  /** Work orders created on days [fromDay, toDay] by state, with how many were ever late. */
  orderSummary(fromDay: number, toDay: number): { state: string; n: number; late: number }[] {
    return this.s.orderSummary.all(fromDay, toDay);
  }

  itemNames(codes: string[]): Map<string, string | null> {
    return new Map(this.s.itemNames.all(JSON.stringify(codes)).map((r) => [r.code, r.name]));
  }
}

/** CSV (RFC 4180, UTF-8 with BOM so Excel opens Chinese text correctly). */
export function toCsv(header: string[], rows: (string | number | null)[][]): string {
  const cell = (v: string | number | null) => {
    if (v === null) return '';
    const s = String(v);
    // A leading = + - @ would be a formula in a spreadsheet: quote it as text.
    const safe = /^[=+\-@\t\r]/.test(s) && typeof v === 'string' ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return '\uFEFF' + [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}
