/**
 * Applies the flag policy (flag-policy.ts) to each stored rating, inside the ingest transaction
 * that stores it, and keeps the decision beside the record (`rating_decisions`). Both users of
 * the decision read it from there: the forward decision right away, the statistics facts when
 * they catch up — so a hall that changes its policy later changes what happens to new records,
 * never silently re-counts old ones.
 *
 * The migration also makes room in the statistics for what the policy decided: a fact can be
 * excluded as 'misuse' (kept, shown, not counted), carries its flags, and the daily and monthly
 * counts gain `flagged` (counted but flagged) and `misuse` (kept, not counted) columns.
 */
import { Counter } from 'prom-client';
import type { RatingRecord } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { Db } from '../store/db.js';
import { decideFlags, FlagPolicySchema, type FlagAction, type FlagDecision, type FlagPolicy } from './flag-policy.js';

/** rating_facts is rebuilt (SQLite's create-copy-drop-rename) because its CHECK must admit 'misuse'. */
export const FLAG_POLICY_MIGRATION = `
  CREATE TABLE rating_decisions (
    rating_id TEXT PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('count', 'flag', 'exclude')),
    flags TEXT NOT NULL,
    -- The flags shown as flagged under the policy of the day (its action was not plain 'count').
    shown TEXT NOT NULL,
    mode TEXT NOT NULL,
    decided_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE rating_facts_v2 (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    day INTEGER NOT NULL,
    month INTEGER NOT NULL,
    window TEXT NOT NULL,
    staff_id TEXT,
    item_code TEXT,
    channel TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    device TEXT,
    received_at INTEGER NOT NULL,
    excluded TEXT CHECK (excluded IN ('invalid', 'superseded', 'misuse')),
    flags TEXT,
    flagged INTEGER NOT NULL DEFAULT 0
  );
  INSERT INTO rating_facts_v2 (id, at, day, month, window, staff_id, item_code, channel, level, device, received_at, excluded)
    SELECT id, at, day, month, window, staff_id, item_code, channel, level, device, received_at, excluded FROM rating_facts;
  DROP TABLE rating_facts;
  ALTER TABLE rating_facts_v2 RENAME TO rating_facts;
  CREATE INDEX rating_facts_window_at ON rating_facts (window, at);
  CREATE INDEX rating_facts_at ON rating_facts (at);
  CREATE INDEX rating_facts_excluded ON rating_facts (excluded, at) WHERE excluded IS NOT NULL;
  CREATE INDEX rating_facts_flagged ON rating_facts (at) WHERE flags IS NOT NULL;

  ALTER TABLE stat_daily ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE stat_daily ADD COLUMN misuse INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE stat_monthly ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE stat_monthly ADD COLUMN misuse INTEGER NOT NULL DEFAULT 0;

  -- Misuse alerts (hub/stats/misuse-alerts.ts) share the alerts table and say what they saw.
  ALTER TABLE alerts ADD COLUMN detail TEXT;
  CREATE INDEX alerts_window_kind_at ON alerts (window, kind, at);
`;

export interface StoredDecision {
  action: FlagAction;
  flags: string[];
  shown: string[];
}

export class RatingJudge {
  private readonly s;
  private policyCache: { body: string | null; policy: FlagPolicy } = { body: null, policy: {} };
  private readonly modes = new Map<string, { version: number; settings: string; mode: 'session' | 'walk-up' }>();
  private readonly counter: Counter<'action'>;

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    metrics: Metrics,
  ) {
    this.s = {
      hall: db.prepare<[], { body: string }>('SELECT body FROM hall_settings WHERE id = 1'),
      device: db.prepare<[string], { config_version: number; settings: string }>(
        'SELECT config_version, settings FROM devices WHERE id = ?',
      ),
      insert: db.prepare(
        'INSERT OR IGNORE INTO rating_decisions (rating_id, action, flags, shown, mode, decided_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      get: db.prepare<[string], { action: FlagAction; flags: string; shown: string }>(
        'SELECT action, flags, shown FROM rating_decisions WHERE rating_id = ?',
      ),
    };
    this.counter = new Counter({
      name: 'hcp_rating_flag_decisions_total',
      help: "Stored ratings by what the hall's flag policy made of them (count, flag, exclude)",
      labelNames: ['action'] as const,
      registers: [metrics.registry],
    });
  }

  /** The hall's flag policy, parsed again only when the hall settings change. */
  policy(): FlagPolicy {
    const body = this.s.hall.get()?.body ?? null;
    if (body !== this.policyCache.body) {
      const raw = body ? (JSON.parse(body) as { flagPolicy?: unknown }).flagPolicy : undefined;
      this.policyCache = { body, policy: raw === undefined ? {} : FlagPolicySchema.parse(raw) };
    }
    return this.policyCache.policy;
  }

  /** The mode the hub runs a device in now (its config, cached per config version). */
  mode(device: string): 'session' | 'walk-up' {
    const row = this.s.device.get(device);
    if (!row) return 'session';
    const hit = this.modes.get(device);
    if (hit && hit.version === row.config_version && hit.settings === row.settings) return hit.mode;
    const d = this.registry.get(device)!;
    const mode = this.registry.config(d).mode;
    this.modes.set(device, { version: row.config_version, settings: row.settings, mode });
    return mode;
  }

  /**
   * Decides and stores what the policy makes of a newly stored rating. Call inside the
   * transaction that stores it. `hubSession`: the record answers a session this hub opened for
   * this device. `hubFlags`: flags the hub adds from its own checks.
   */
  judge = (r: RatingRecord, hubSession: boolean, receivedAt: number, hubFlags: readonly string[] = []): FlagDecision => {
    const mode = this.mode(r.device);
    const d = decideFlags({ deviceFlags: r.flags, hubFlags, mode, hubSession }, this.policy());
    this.s.insert.run(r.id, d.action, JSON.stringify(d.flags), JSON.stringify(d.shown), mode, receivedAt);
    this.counter.inc({ action: d.action });
    return d;
  };

  /** The stored decision for a rating; undefined for records stored before the policy existed. */
  decision(ratingId: string): StoredDecision | undefined {
    const row = this.s.get.get(ratingId);
    return row ? { action: row.action, flags: JSON.parse(row.flags) as string[], shown: JSON.parse(row.shown) as string[] } : undefined;
  }
}
