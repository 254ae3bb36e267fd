/**
 * Misuse alerts, beside the 差评 cluster alerts (alerts.ts) and in the same table, so the page,
 * the wall and acknowledging work the same way. Staff must not press for the citizen (Hubei
 * art. 4); fake good reviews are to be found (Ankang art. 19, Jilin). Three signals, each a pure
 * rule over what the facts hold, each with thresholds in the hub configuration (web.misuseAlerts):
 *   - sessionless: many presses at one window with no session, within a time window;
 *   - burst: top ratings one after another, each within seconds of the last (nobody is served
 *     that fast; someone is pressing);
 *   - flagged-high: a window's 满意率 far above the hall's while most of its presses are flagged.
 * The rules read facts that the flag policy already marked (hub/policy/flag-policy.ts): a flag
 * the hall set to plain 'count' is not pointed at here either.
 */
import { z } from 'zod';
import type { Db } from '../store/db.js';
import type { Alert } from './alerts.js';
import type { Fact } from './facts.js';

export const MisuseRuleSchema = z
  .object({
    sessionless: z
      .object({
        minutes: z
          .number()
          .int()
          .positive()
          .max(24 * 60)
          .default(60),
        /** This many presses without a session at one window within `minutes`. */
        min: z.number().int().positive().default(5),
      })
      .strict()
      .prefault({}),
    burst: z
      .object({
        /** Each top rating at most this many seconds after the one before… */
        seconds: z.number().positive().max(600).default(10),
        /** …this many in a row. */
        min: z.number().int().min(2).default(3),
        /** The levels that count as "top" (非常满意 by default). */
        levels: z.array(z.number().int().min(1).max(5)).min(1).default([5]),
      })
      .strict()
      .prefault({}),
    flaggedHigh: z
      .object({
        minutes: z
          .number()
          .int()
          .positive()
          .max(7 * 24 * 60)
          .default(24 * 60),
        /** The window's 满意率 at least this far above the hall's… */
        margin: z.number().min(0).max(1).default(0.05),
        /** …while at least this share of its presses is flagged or excluded… */
        flaggedShare: z.number().min(0).max(1).default(0.5),
        /** …once it has this many presses. */
        minPresses: z.number().int().positive().default(10),
      })
      .strict()
      .prefault({}),
    /** Do not raise the same kind at the same window again within this many minutes. */
    quietMinutes: z.number().int().nonnegative().default(60),
  })
  .strict();
export type MisuseRule = z.infer<typeof MisuseRuleSchema>;
export type MisuseKind = 'sessionless' | 'burst' | 'flagged-high';

/** Pure: the longest run of times (sorted, ms) where each follows the one before within gapMs. */
export function longestBurst(times: readonly number[], gapMs: number): { length: number; from: number; to: number } {
  let best = { length: times.length ? 1 : 0, from: times[0] ?? 0, to: times[0] ?? 0 };
  let start = 0;
  for (let i = 1; i < times.length; i++) {
    if (times[i]! - times[i - 1]! > gapMs) start = i;
    const length = i - start + 1;
    if (length > best.length) best = { length, from: times[start]!, to: times[i]! };
  }
  return best;
}

export interface WindowPresses {
  /** All presses at the window in the period: counted ones and those excluded as misuse. */
  presses: number;
  /** Presses at level 3–5 (满意率's numerator, over all presses). */
  satisfied: number;
  /** Presses flagged (counted but flagged) or excluded as misuse. */
  flagged: number;
}

/** Pure: is this window's 满意率 far above the hall's while most of its presses are flagged? */
export function flaggedHigh(rule: MisuseRule['flaggedHigh'], w: WindowPresses, hallSatisfaction: number | null): boolean {
  if (w.presses < rule.minPresses || w.flagged / w.presses < rule.flaggedShare) return false;
  return w.satisfied / w.presses >= (hallSatisfaction ?? 0) + rule.margin;
}

/** How far back the burst rule looks: far enough to see a whole burst, and no further. */
const burstSpanMs = (b: MisuseRule['burst']) => b.seconds * 1000 * b.min * 2;

const pct = (x: number) => `${Math.round(x * 100)}%`;

export class MisuseWatch {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly rule: MisuseRule,
    private readonly now: () => number = Date.now,
  ) {
    this.s = {
      // The kinds raised at a window since an instant (within the quiet time): one look per window, not one per kind.
      quiet: db.prepare<[string, number], { kind: MisuseKind }>(
        "SELECT DISTINCT kind FROM alerts WHERE window = ? AND at > ? AND kind IN ('sessionless', 'burst', 'flagged-high')",
      ),
      sessionless: db.prepare<[string, number], { n: number }>(
        "SELECT count(*) AS n FROM rating_facts WHERE window = ? AND at > ? AND ',' || flags || ',' LIKE '%,no-session,%'",
      ),
      top: db.prepare<[string, number, string], { at: number }>(
        "SELECT at FROM rating_facts WHERE window = ? AND at > ? AND excluded IS NOT 'superseded' AND channel = 'device' AND level IN (SELECT value FROM json_each(?)) ORDER BY at",
      ),
      window: db.prepare<[string, number], WindowPresses>(
        "SELECT count(*) AS presses, coalesce(sum(level >= 3), 0) AS satisfied, coalesce(sum(flagged = 1 OR excluded = 'misuse'), 0) AS flagged FROM rating_facts WHERE window = ? AND at > ? AND (excluded IS NULL OR excluded = 'misuse') AND channel = 'device'",
      ),
      hall: db.prepare<[number], { total: number; satisfied: number }>(
        'SELECT count(*) AS total, coalesce(sum(level >= 3), 0) AS satisfied FROM rating_facts WHERE at > ? AND excluded IS NULL',
      ),
      insert: db.prepare('INSERT INTO alerts (at, window, kind, bad, total, minutes, detail) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
  }

  /**
   * Looks at the windows of newly added device facts; returns the alerts raised. One transaction
   * for all of them: a burst of group commits must not cost one fsync per alert (issue 14).
   *
   * A fact assessed before every rule's look-back (a record an evaluator held through a long
   * outage) is in none of the counts below, so it is no new evidence: its window is not looked at
   * for it. It would only have re-raised what the window's earlier facts had shown, once the
   * quiet time was over. After a week-long outage, these checks ran for every window after each
   * catch-up chunk of the backlog (issue 14). One thing such a fact can still move: a late real
   * rating takes the hub's default out of the counts, and the hall's 满意率 (flagged-high's
   * yardstick) with it; that moves every window's comparison alike, and no window is looked at
   * for another window's facts either. The 差评 clusters do look at the default's window.
   */
  check(added: readonly Fact[]): Alert[] {
    return this.db.transaction(() => this.checkAll(added))();
  }

  private checkAll(added: readonly Fact[]): Alert[] {
    const now = this.now();
    const r = this.rule;
    const lookBack = Math.max(r.sessionless.minutes * 60_000, burstSpanMs(r.burst), r.flaggedHigh.minutes * 60_000);
    // The queries below count facts with at > (now - their look-back): the same cut.
    const windows = new Set(added.filter((f) => f.channel === 'device' && f.at > now - lookBack).map((f) => f.window));
    const raised: Alert[] = [];
    let hallRate: number | null | undefined;
    for (const window of windows) {
      // Quiet: raised at this window within quietMinutes (what it raises below is of another kind).
      const recent = new Set(this.s.quiet.all(window, now - r.quietMinutes * 60_000).map((x) => x.kind));
      const quiet = (kind: MisuseKind) => recent.has(kind);
      const raise = (kind: MisuseKind, signal: number, total: number, minutes: number, detail: string) => {
        const res = this.s.insert.run(now, window, kind, signal, total, minutes, detail);
        raised.push({
          id: Number(res.lastInsertRowid),
          at: now,
          window,
          kind,
          bad: signal,
          total,
          minutes,
          detail,
          ackedBy: null,
          ackedAt: null,
        });
      };

      if (!quiet('sessionless')) {
        const { n } = this.s.sessionless.get(window, now - r.sessionless.minutes * 60_000)!;
        if (n >= r.sessionless.min)
          raise('sessionless', n, n, r.sessionless.minutes, `${r.sessionless.minutes} 分钟内无办件会话的按键 ${n} 次`);
      }

      if (!quiet('burst')) {
        const times = this.s.top.all(window, now - burstSpanMs(r.burst), JSON.stringify(r.burst.levels)).map((x) => x.at);
        const b = longestBurst(times, r.burst.seconds * 1000);
        if (b.length >= r.burst.min)
          raise(
            'burst',
            b.length,
            times.length,
            Math.max(1, Math.ceil((b.to - b.from) / 60_000)),
            `${b.length} 次最高评价连续出现，间隔均不超过 ${r.burst.seconds} 秒（共 ${Math.round((b.to - b.from) / 1000)} 秒）`,
          );
      }

      if (!quiet('flagged-high')) {
        const since = now - r.flaggedHigh.minutes * 60_000;
        const w = this.s.window.get(window, since)!;
        if (w.presses >= r.flaggedHigh.minPresses) {
          if (hallRate === undefined) {
            const h = this.s.hall.get(since)!;
            hallRate = h.total ? h.satisfied / h.total : null;
          }
          if (flaggedHigh(r.flaggedHigh, w, hallRate)) {
            raise(
              'flagged-high',
              w.flagged,
              w.presses,
              r.flaggedHigh.minutes,
              `满意率 ${pct(w.satisfied / w.presses)}，全厅 ${hallRate === null ? '—' : pct(hallRate)}；${w.presses} 次按键中 ${w.flagged} 次被标记`,
            );
          }
        }
      }
    }
    return raised;
  }
}
