/**
 * The rectification summary of a period (差评整改情况: work orders by state, and how many were
 * ever late) from counts per China day of creation and state, instead of reading every work
 * order of the period: three years of a big hall are ~250,000 orders, which took 0.1–0.4 s to
 * group; the counts are ~7 rows a day. Triggers keep them in the same statement that creates an
 * order or moves it, so they can never disagree with work_orders (checkOrderCounts proves it),
 * and the migration fills them from the orders an existing hub already has.
 */
import type { Db } from '../store/db.js';

/** The China day of an instant in SQL (integer division: instants are positive integers). */
const DAY_OF = (col: string) => `((${col} + 28800000) / 86400000)`;

export const ORDER_COUNTS_MIGRATION = `
  CREATE TABLE work_order_daily (
    day INTEGER NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    late INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, state)
  ) WITHOUT ROWID;
  INSERT INTO work_order_daily (day, state, n, late)
    SELECT ${DAY_OF('created_at')}, state, count(*), sum(late_stages > 0) FROM work_orders GROUP BY 1, 2;
  CREATE TRIGGER work_order_daily_insert AFTER INSERT ON work_orders BEGIN
    INSERT INTO work_order_daily (day, state, n, late) VALUES (${DAY_OF('NEW.created_at')}, NEW.state, 1, NEW.late_stages > 0)
      ON CONFLICT (day, state) DO UPDATE SET n = n + 1, late = late + excluded.late;
  END;
  CREATE TRIGGER work_order_daily_update AFTER UPDATE OF state, late_stages, created_at ON work_orders
    WHEN OLD.state IS NOT NEW.state OR (OLD.late_stages > 0) IS NOT (NEW.late_stages > 0) OR OLD.created_at IS NOT NEW.created_at
  BEGIN
    UPDATE work_order_daily SET n = n - 1, late = late - (OLD.late_stages > 0) WHERE day = ${DAY_OF('OLD.created_at')} AND state = OLD.state;
    INSERT INTO work_order_daily (day, state, n, late) VALUES (${DAY_OF('NEW.created_at')}, NEW.state, 1, NEW.late_stages > 0)
      ON CONFLICT (day, state) DO UPDATE SET n = n + 1, late = late + excluded.late;
  END;
`;

/** Work orders created on China days [?, ?] (day numbers) by state, with how many were ever late. */
export const ORDER_SUMMARY_SQL = `SELECT state, sum(n) AS n, sum(late) AS late FROM work_order_daily WHERE day BETWEEN ? AND ? GROUP BY state HAVING sum(n) > 0`;

/** Days and states where the kept counts differ from a recount of work_orders (empty when all agree). */
export function checkOrderCounts(db: Db): { day: number; state: string }[] {
  const fresh = `SELECT ${DAY_OF('created_at')} AS day, state, count(*) AS n, sum(late_stages > 0) AS late FROM work_orders GROUP BY 1, 2`;
  const kept = 'SELECT day, state, n, late FROM work_order_daily WHERE n <> 0 OR late <> 0';
  return [`${fresh} EXCEPT ${kept}`, `${kept} EXCEPT ${fresh}`].flatMap((sql) =>
    db.prepare<[], { day: number; state: string }>(`SELECT day, state FROM (${sql})`).all(),
  );
}
