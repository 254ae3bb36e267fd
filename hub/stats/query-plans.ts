/**
 * Which statements the hall's statistics really run, and whether SQLite answers each from an
 * index. The test that every statistics query uses an index (test/web/stats-plans.test.ts) and
 * the benchmark (bench/web-stats.ts) both record the statements run during real page renders
 * (through the database's own `prepare`), then ask SQLite for each one's plan with the
 * parameters it ran with — so a new or changed query is checked without anyone listing it.
 */
import type Database from 'better-sqlite3';
import type { Db } from '../store/db.js';

export interface RanStatement {
  sql: string;
  /** The parameters of one run (named parameters as one object). */
  params: unknown[];
}

type Run = (...params: unknown[]) => unknown;
const RUN_METHODS = ['all', 'get', 'run', 'iterate'] as const;

/**
 * Records the statements run on `db` while `during` runs. Statements must be prepared after the
 * recorder is made (make it before the hub's parts, as they prepare theirs up front); a statement
 * prepared then and run later is recorded each time it runs within `during`.
 */
export class StatementRecorder {
  /** sql → the distinct parameter sets it ran with (at most 20 each). */
  readonly ran = new Map<string, unknown[][]>();
  private armed = 0;
  private readonly prepare: Db['prepare'];

  constructor(private readonly db: Db) {
    this.prepare = db.prepare;
    const original = db.prepare;
    const wrapped = (...args: Parameters<Db['prepare']>) => {
      const st = original.apply(db, args) as Database.Statement;
      this.watch(st, String(args[0]));
      return st;
    };
    (db as { prepare: unknown }).prepare = wrapped;
  }

  private watch(st: Database.Statement, sql: string): void {
    const target = st as unknown as Record<(typeof RUN_METHODS)[number], Run>;
    for (const m of RUN_METHODS) {
      const run = target[m];
      target[m] = (...params: unknown[]) => {
        if (this.armed) this.note(sql, params);
        return run.apply(st, params);
      };
    }
  }

  private note(sql: string, params: unknown[]): void {
    let sets = this.ran.get(sql);
    if (!sets) this.ran.set(sql, (sets = []));
    const key = JSON.stringify(params);
    if (sets.length < 20 && !sets.some((p) => JSON.stringify(p) === key)) sets.push(params);
  }

  async during<T>(f: () => Promise<T> | T): Promise<T> {
    this.armed++;
    try {
      return await f();
    } finally {
      this.armed--;
    }
  }

  /** Every (statement, parameters) recorded, queries and writes alike (BEGIN, COMMIT and pragmas left out). */
  statements(): RanStatement[] {
    return [...this.ran]
      .filter(([sql]) => /^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql))
      .flatMap(([sql, sets]) => sets.map((params) => ({ sql, params })));
  }

  /** Puts the database's own prepare back. */
  stop(): void {
    (this.db as { prepare: unknown }).prepare = this.prepare;
  }
}

/**
 * Tables a statistics page may read whole: their size is the hall's configuration, not its
 * history. Everything else (ratings, facts, counts, work orders, audit) must be searched.
 */
export const WHOLE_TABLE_READS: Record<string, string> = {
  devices: 'one row per evaluator device of the hall (a few hundred): the window and staff names the tables are labelled with',
};

/**
 * Indexes (and rowid tables) a statement may scan from one end: each is bounded by its own WHERE
 * (a partial index) or read in order only until the statement's LIMIT. Nothing else may be scanned.
 */
export const BOUNDED_SCANS: Record<string, string> = {
  audit_log: 'ORDER BY n DESC LIMIT 1: the newest row of the append-only log (its hash chains the next entry, e.g. a CSV export)',
  rating_facts_at: 'newest facts first, stopped by LIMIT (the wall’s latest ratings)',
  rating_facts_flagged: 'partial (flagged ratings only), newest first, stopped by LIMIT',
  alerts_open: 'partial: unacknowledged 差评-cluster and misuse alerts only (the nav badge and the wall)',
  work_orders_open_due: 'partial: open work orders only (closed and invalid ones are not in it)',
};

export interface PlanVerdict {
  sql: string;
  params: unknown[];
  plan: string[];
  /** Steps that read a table or index of the hall's history without bounds. */
  problems: string[];
  /** Steps allowed by WHOLE_TABLE_READS or BOUNDED_SCANS, with the reason. */
  allowed: string[];
}

/** SQLite's plan of one statement, checked: every table of the history reached through an index search. */
export function checkPlan(db: Db, s: RanStatement): PlanVerdict {
  const plan = (db.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(...s.params) as { detail: string }[]).map((r) => r.detail);
  const schema = db.prepare<[], { type: string; name: string; sql: string | null }>('SELECT type, name, sql FROM sqlite_master').all();
  const tables = new Set(schema.filter((r) => r.type === 'table').map((r) => r.name));
  const partial = new Set(schema.filter((r) => r.type === 'index' && / WHERE /i.test(r.sql ?? '')).map((r) => r.name));
  const hasLimit = /\bLIMIT\b/i.test(s.sql);
  const problems: string[] = [];
  const allowed: string[] = [];
  for (const step of plan) {
    const m = /^SCAN (\S+)(?: USING (?:COVERING )?INDEX (\S+))?/.exec(step);
    // Not a scan, or a scan of a subquery's rows, a constant row or a table-valued function of a parameter.
    if (!m || m[1]!.startsWith('(') || m[1] === 'CONSTANT' || / VIRTUAL TABLE/.test(step)) continue;
    const table = tables.has(m[1]!) ? m[1]! : aliased(s.sql, m[1]!, tables);
    const index = m[2];
    if (!index) {
      const whole = table && WHOLE_TABLE_READS[table];
      const bounded = table && hasLimit && BOUNDED_SCANS[table];
      if (whole || bounded) allowed.push(`${step}: ${whole || bounded}`);
      else problems.push(`${step}: reads the whole table ${table ?? m[1]}`);
      continue;
    }
    const why = BOUNDED_SCANS[index];
    if (why && (partial.has(index) || hasLimit)) allowed.push(`${step}: ${why}`);
    else problems.push(`${step}: reads the whole index ${index}`);
  }
  return { ...s, plan, problems, allowed };
}

/** The table behind an alias in `FROM table alias` / `JOIN table AS alias`, or null. */
function aliased(sql: string, alias: string, tables: Set<string>): string | null {
  const re = new RegExp(`\\b(\\w+)\\s+(?:AS\\s+)?${alias}\\b`, 'gi');
  for (const m of sql.matchAll(re)) if (tables.has(m[1]!)) return m[1]!;
  return null;
}
