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
   * One dimension (window, staff, item, channel) over a period (coverPeriod): months from the
   * monthly counts, and at each end days added to them or, for a month taken whole, the days
   * outside the period subtracted (@s1, @s2 = 1 or -1). A key whose counts come to nothing is left out.
   */
  byDim: `SELECT key, ${SUMS} FROM (
      SELECT key, ${COLS} FROM stat_monthly WHERE dim = @dim AND month BETWEEN @m1 AND @m2
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

/**
 * How one dimension's counts for days [from, to] are read: the monthly counts of months m1..m2,
 * plus s1 × the daily counts of days a1..b1 and s2 × those of a2..b2. At each end of the period
 * either its ragged days are added (s = 1) or its month is taken whole and the days outside the
 * period subtracted (s = -1), whichever reads fewer daily rows — days after `lastDay`, the newest
 * day with counts, cost nothing. So this month, or this year, to today reads month rows only
 * (a day's rows are ~1,500 at 400 windows), where adding the days read up to 30 days of them.
 */
export function coverPeriod(
  from: number,
  to: number,
  lastDay: number,
): { m1: number; m2: number; a1: number; b1: number; s1: number; a2: number; b2: number; s2: number } {
  const cost = (a: number, b: number) => Math.max(0, Math.min(b, lastDay) - a + 1);
  const M1 = monthOfDay(from);
  const M2 = monthOfDay(to);
  const start1 = monthStart(M1);
  const end2 = monthStart(M2 + 1) - 1;
  if (M1 === M2) {
    if (cost(from, to) <= 1 + cost(start1, from - 1) + cost(to + 1, end2))
      return { m1: 1, m2: 0, a1: from, b1: to, s1: 1, a2: 1, b2: 0, s2: 1 };
    return { m1: M1, m2: M1, a1: start1, b1: from - 1, s1: -1, a2: to + 1, b2: end2, s2: -1 };
  }
  const end1 = monthStart(M1 + 1) - 1;
  const start2 = monthStart(M2);
  const head =
    cost(from, end1) < 1 + cost(start1, from - 1)
      ? { m1: M1 + 1, a1: from, b1: end1, s1: 1 }
      : { m1: M1, a1: start1, b1: from - 1, s1: -1 };
  const tail =
    cost(start2, to) < 1 + cost(to + 1, end2) ? { m2: M2 - 1, a2: start2, b2: to, s2: 1 } : { m2: M2, a2: to + 1, b2: end2, s2: -1 };
  return { ...head, ...tail };
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
