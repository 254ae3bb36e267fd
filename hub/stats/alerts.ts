/**
 * 差评 clusters: when bad reviews pile up at one window — a count within a time window, or a
 * share of all ratings there — the hall manager is told (on the page, in the log, as a
 * metric). The rule is pure; the watcher asks the facts and remembers what it already raised.
 */
import { z } from 'zod';
import type { Db } from '../store/db.js';
import type { FactPlace } from './facts.js';
import type { MisuseKind } from './misuse-alerts.js';
import type { StatsQueries } from './queries.js';

export const ALERTS_MIGRATION = `
  CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    window TEXT NOT NULL,
    kind TEXT NOT NULL,
    bad INTEGER NOT NULL,
    total INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    acked_by TEXT,
    acked_at INTEGER
  );
  CREATE INDEX alerts_window_at ON alerts (window, at);
  CREATE INDEX alerts_open ON alerts (at) WHERE acked_at IS NULL;
`;

export const ClusterRuleSchema = z
  .object({
    /** The sliding time window, minutes. */
    minutes: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 60)
      .default(60),
    /** Fire at this many 差评 within the time window… */
    minBad: z.number().int().positive().default(3),
    /** …or when 差评 are at least this share of the window's ratings… */
    share: z.number().min(0).max(1).default(0.3),
    /** …counted only once there are this many ratings (2 bad of 3 is not yet a cluster). */
    minTotal: z.number().int().positive().default(10),
    /** Do not raise the same window again within this many minutes. */
    quietMinutes: z.number().int().nonnegative().default(60),
  })
  .strict();
export type ClusterRule = z.infer<typeof ClusterRuleSchema>;

export type ClusterKind = 'count' | 'share';

/** Pure: does this window's recent tally make a cluster? */
export function clusterKind(rule: ClusterRule, bad: number, total: number): ClusterKind | null {
  if (bad >= rule.minBad) return 'count';
  if (total >= rule.minTotal && bad > 0 && bad / total >= rule.share) return 'share';
  return null;
}

export interface Alert {
  id: number;
  at: number;
  window: string;
  /** 差评 clusters: count / share; misuse (misuse-alerts.ts): sessionless / burst / flagged-high. */
  kind: ClusterKind | MisuseKind;
  bad: number;
  total: number;
  minutes: number;
  ackedBy: string | null;
  ackedAt: number | null;
  /** What a misuse alert saw, in words (null for 差评 clusters). */
  detail?: string | null;
}

const COLUMNS = 'id, at, window, kind, bad, total, minutes, detail, acked_by AS ackedBy, acked_at AS ackedAt';

export class ClusterWatch {
  constructor(
    private readonly db: Db,
    private readonly stats: StatsQueries,
    private readonly rule: ClusterRule,
    private readonly now: () => number = Date.now,
  ) {
    this.s = {
      last: db.prepare<[string], { at: number }>(
        "SELECT at FROM alerts WHERE window = ? AND kind IN ('count', 'share') ORDER BY at DESC LIMIT 1",
      ),
      insert: db.prepare('INSERT INTO alerts (at, window, kind, bad, total, minutes) VALUES (?, ?, ?, ?, ?, ?)'),
    };
  }

  private readonly s;

  /**
   * Looks at windows that just got a 差评; returns the alerts raised. One transaction for all of
   * them, statements prepared once: a burst of group commits must not cost one fsync per alert (issue 14).
   * A 差评 assessed before the rule's time window (held by an evaluator through an outage) is not
   * in the window's count, so it is no new evidence and its window is not looked at for it (as in
   * misuse-alerts.ts).
   */
  check(badFacts: Iterable<FactPlace>): Alert[] {
    return this.db.transaction(() => this.checkAll(badFacts))();
  }

  private checkAll(badFacts: Iterable<FactPlace>): Alert[] {
    const now = this.now();
    const since = now - this.rule.minutes * 60_000;
    const windows = new Set<string>();
    for (const f of badFacts) if (f.at > since) windows.add(f.window); // windowRecent counts at > since
    const raised: Alert[] = [];
    for (const window of windows) {
      // Quiet after this window's last 差评 cluster alert (misuse alerts keep their own quiet time).
      const last = this.s.last.get(window);
      if (last && now - last.at < this.rule.quietMinutes * 60_000) continue;
      const { bad, total } = this.stats.windowRecent(window, since);
      const kind = clusterKind(this.rule, bad, total);
      if (!kind) continue;
      const r = this.s.insert.run(now, window, kind, bad, total, this.rule.minutes);
      raised.push({
        id: Number(r.lastInsertRowid),
        at: now,
        window,
        kind,
        bad,
        total,
        minutes: this.rule.minutes,
        ackedBy: null,
        ackedAt: null,
      });
    }
    return raised;
  }

  open(): Alert[] {
    return this.db.prepare<[], Alert>(`SELECT ${COLUMNS} FROM alerts WHERE acked_at IS NULL ORDER BY at DESC LIMIT 50`).all();
  }

  list(limit = 100): Alert[] {
    return this.db.prepare<[number], Alert>(`SELECT ${COLUMNS} FROM alerts ORDER BY at DESC LIMIT ?`).all(limit);
  }

  ack(id: number, by: string): boolean {
    return (
      this.db.prepare('UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_at IS NULL').run(by, this.now(), id).changes > 0
    );
  }
}
