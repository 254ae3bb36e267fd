/**
 * Statistics come from the stored records and nothing else. Each rating becomes one row of
 * `rating_facts` (its assessed time, day, window, staff, item, channel, level), and daily and
 * monthly per-dimension counts (`stat_daily`, `stat_monthly`) are kept in step in the same
 * transaction, so a year's statistics read a few thousand small rows instead of parsing 1.5
 * million records.
 *
 * Both tables are derived: they are filled by catching up on `ratings` (and hub-made defaults
 * in `forward_queue`) past a watermark, so a crash between a rating's commit and its facts
 * loses nothing — the next catch-up takes it. What counts is what the hub's session book
 * (hub/sessions/session-book.ts) decided counts, one evaluation per service (一次一评): a
 * device rating for one of the hub's sessions counts only if it is that session's rating (a
 * second rating for a rated session is stored, not counted); a 7-day default counts as the
 * 'default' channel until a late real rating supersedes it (its 'correction' in the forward
 * queue), and then only the real rating counts. No API edits them; `rebuildRollups` recomputes
 * the counts from the facts and `checkRollups` proves they agree. A rating found invalid on
 * appeal is not deleted: its fact is marked excluded and moves from its level's count to the
 * `invalid` count.
 */
import { dayFromNumber, dayNumber } from '../calendar/working-days.js';
import type { RatingRecord } from '../../protocol/index.js';
import type { Db } from '../store/db.js';
import { attributedRow } from '../ingest/attribution.js';

/**
 * Counts per dimension, period and key. n1..n5: valid ratings per level; invalid: found invalid
 * on appeal. (FLAG_POLICY_MIGRATION adds flagged: counted but flagged; misuse: kept, not counted.)
 */
const countsTable = (name: string, period: string) => `
  CREATE TABLE ${name} (
    dim TEXT NOT NULL,
    ${period} INTEGER NOT NULL,
    key TEXT NOT NULL,
    n1 INTEGER NOT NULL DEFAULT 0,
    n2 INTEGER NOT NULL DEFAULT 0,
    n3 INTEGER NOT NULL DEFAULT 0,
    n4 INTEGER NOT NULL DEFAULT 0,
    n5 INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, ${period}, key)
  ) WITHOUT ROWID;`;

export const STATS_MIGRATION = `
  CREATE TABLE rating_facts (
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
    excluded TEXT CHECK (excluded IN ('invalid', 'superseded'))
  );
  CREATE INDEX rating_facts_window_at ON rating_facts (window, at);
  CREATE INDEX rating_facts_at ON rating_facts (at);
  CREATE INDEX rating_facts_excluded ON rating_facts (excluded, at) WHERE excluded IS NOT NULL;

  -- Daily counts per dimension ('hall' with key '', 'window', 'staff', 'item', 'channel').
  -- n1..n5: valid ratings per level; invalid: ratings found invalid on appeal.
${countsTable('stat_daily', 'day')}
  CREATE INDEX stat_daily_key ON stat_daily (dim, key, day);

  -- The same per calendar month (month = year * 12 + month - 1), so a year reads 12 rows per
  -- key instead of 365: a period's whole months come from here, its ragged ends from stat_daily.
${countsTable('stat_monthly', 'month')}

  -- Item names as last seen on a record (事项名称).
  CREATE TABLE stat_items (code TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID;

  -- How far the facts have caught up: rowids in ratings and forward_queue.
  CREATE TABLE stat_watermark (source TEXT PRIMARY KEY, last_rowid INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO stat_watermark VALUES ('ratings', 0), ('forward_queue', 0);
`;

export const DIMS = ['hall', 'window', 'staff', 'item', 'channel'] as const;

/** Month index of a day number: year * 12 + month - 1 (China calendar). */
export function monthOfDay(day: number): number {
  const d = dayFromNumber(day);
  return Number(d.slice(0, 4)) * 12 + Number(d.slice(5, 7)) - 1;
}

/**
 * The same per calendar year (year = month / 12), so a range over years reads a year's row per
 * key instead of twelve (issue 14: three years of 800 staff were 29,000 month rows). Filled from
 * the monthly counts for a hub that already has them.
 */
export const YEARLY_COUNTS_MIGRATION = `
  CREATE TABLE stat_yearly (
    dim TEXT NOT NULL,
    year INTEGER NOT NULL,
    key TEXT NOT NULL,
    n1 INTEGER NOT NULL DEFAULT 0,
    n2 INTEGER NOT NULL DEFAULT 0,
    n3 INTEGER NOT NULL DEFAULT 0,
    n4 INTEGER NOT NULL DEFAULT 0,
    n5 INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    flagged INTEGER NOT NULL DEFAULT 0,
    misuse INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, year, key)
  ) WITHOUT ROWID;
  INSERT INTO stat_yearly (dim, year, key, n1, n2, n3, n4, n5, invalid, flagged, misuse)
    SELECT dim, month / 12, key, sum(n1), sum(n2), sum(n3), sum(n4), sum(n5), sum(invalid), sum(flagged), sum(misuse)
    FROM stat_monthly GROUP BY dim, month / 12, key;
`;

/** The tables of counts and the period each is keyed by. */
export const ROLLUPS = [
  { table: 'stat_daily', period: 'day' },
  { table: 'stat_monthly', period: 'month' },
  { table: 'stat_yearly', period: 'year' },
] as const;
export type Dim = (typeof DIMS)[number];

/**
 * 'device': the window evaluator (pf 4/5); 'default': the hub's 7-day 基本满意 (system default);
 * 'qr': rated later on the hub's citizen page from a scanned QR (pf 3; hub/citizen/).
 */
export type Channel = 'device' | 'default' | 'qr';

/** Where and when a fact counts: what the alert checks need of one (alerts.ts, misuse-alerts.ts). */
export type FactPlace = Pick<Fact, 'window' | 'at'>;

export interface Fact {
  id: string;
  at: number;
  window: string;
  staffId: string | null;
  itemCode: string | null;
  itemName: string | null;
  channel: Channel;
  level: number;
  device: string | null;
  receivedAt: number;
  /** Carried for the work order (not kept in rating_facts): preset reasons and case numbers. */
  reasons: string[];
  cases: string[];
  /** Flags shown as flagged (the hall's flag policy did not leave them at plain 'count'). */
  flags?: string[];
  /** What the flag policy decided: 'flag' counts it marked; 'exclude' keeps it out of the counts (misuse). */
  policy?: 'count' | 'flag' | 'exclude';
}

/** Dimension keys of a fact. An unknown staff member or item is '' (shown as 未登记). */
export function factKeys(f: Pick<Fact, 'window' | 'staffId' | 'itemCode' | 'channel'>): [Dim, string][] {
  return [
    ['hall', ''],
    ['window', f.window],
    ['staff', f.staffId ?? ''],
    ['item', f.itemCode ?? ''],
    ['channel', f.channel],
  ];
}

export function factFromRecord(r: RatingRecord, receivedAt: number): Fact | null {
  if (r.kind !== 'rating' || r.level === null) return null;
  return {
    id: r.id,
    // When the citizen rated: trust the device clock only if it was synced.
    at: r.clockSynced ? r.at : receivedAt,
    window: r.window,
    staffId: r.staffId,
    itemCode: r.session?.itemCode ?? null,
    itemName: r.session?.itemName ?? null,
    channel: 'device',
    level: r.level,
    device: r.device,
    receivedAt,
    reasons: r.reasons,
    cases: r.session?.cases ?? [],
  };
}

interface EvaluationPayload {
  id: string;
  kind: string;
  channel?: string;
  window: string;
  staffId: string | null;
  level: number;
  reasons: string[];
  session: { itemCode: string | null; itemName: string | null; cases: string[] } | null;
  assessedAt: number;
  supersedes: string | null;
  device: string | null;
}

const CHUNK = 2000;

/** Counts waiting to be added to one row of a rollup table (`t`: index in ROLLUPS). */
interface Bump {
  t: number;
  dim: Dim;
  period: number;
  key: string;
  n: number[];
  flagged: number;
  misuse: number;
}

export class Facts {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      wm: db.prepare<[string], { last_rowid: number }>('SELECT last_rowid FROM stat_watermark WHERE source = ?'),
      setWm: db.prepare('UPDATE stat_watermark SET last_rowid = ? WHERE source = ?'),
      // With the hub's attribution and the flag policy's decision, both made when the record was stored.
      ratings: db.prepare<
        [number, number],
        {
          rowid: number;
          body: string;
          received_at: number;
          kind: string;
          attribution: string | null;
          action: 'count' | 'flag' | 'exclude' | null;
          shown: string | null;
        }
      >(
        'SELECT r.rowid, r.body, r.received_at, r.kind, r.attribution, d.action, d.shown FROM ratings r LEFT JOIN rating_decisions d ON d.rating_id = r.id WHERE r.rowid > ? ORDER BY r.rowid LIMIT ?',
      ),
      // Ratings the hub made from its citizen page (a late QR rating) have no device record: record_id is null.
      queue: db.prepare<[number, number], { rowid: number; kind: string; record_id: string | null; payload: string; enqueued_at: number }>(
        "SELECT q.rowid AS rowid, kind, record_id, p.payload, enqueued_at FROM forward_queue AS q JOIN forward_payload AS p ON p.n = q.rowid WHERE q.rowid > ? AND (kind IN ('default', 'correction') OR (kind = 'rating' AND record_id IS NULL)) ORDER BY q.rowid LIMIT ?",
      ),
      maxQueue: db.prepare<[], { m: number | null }>('SELECT max(rowid) AS m FROM forward_queue'),
      session: db.prepare<[string], { device: string; rating_id: string | null }>('SELECT device, rating_id FROM sessions WHERE id = ?'),
      insert: db.prepare(
        'INSERT OR IGNORE INTO rating_facts (id, at, day, month, window, staff_id, item_code, channel, level, device, received_at, excluded, flags, flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      item: db.prepare(
        'INSERT INTO stat_items (code, name) VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET name = excluded.name WHERE excluded.name IS NOT NULL',
      ),
      // One row's counts added at once: a chunk's facts are summed per row first (see Bumps).
      bump: ROLLUPS.map(({ table, period }) =>
        db.prepare(
          `INSERT INTO ${table} (dim, ${period}, key, n1, n2, n3, n4, n5, flagged, misuse) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (dim, ${period}, key) DO UPDATE SET n1 = n1 + excluded.n1, n2 = n2 + excluded.n2, n3 = n3 + excluded.n3,
             n4 = n4 + excluded.n4, n5 = n5 + excluded.n5, flagged = flagged + excluded.flagged, misuse = misuse + excluded.misuse`,
        ),
      ),
      exclude: ROLLUPS.map(({ table, period }) =>
        [1, 2, 3, 4, 5].map((l) => ({
          invalid: db.prepare(
            `UPDATE ${table} SET n${l} = n${l} - 1, flagged = flagged - ?, invalid = invalid + 1 WHERE dim = ? AND ${period} = ? AND key = ?`,
          ),
          superseded: db.prepare(
            `UPDATE ${table} SET n${l} = n${l} - 1, flagged = flagged - ? WHERE dim = ? AND ${period} = ? AND key = ?`,
          ),
        })),
      ),
      fact: db.prepare<
        [string],
        {
          id: string;
          at: number;
          day: number;
          month: number;
          window: string;
          staff_id: string | null;
          item_code: string | null;
          channel: Channel;
          level: number;
          excluded: string | null;
          flagged: number;
        }
      >('SELECT id, at, day, month, window, staff_id, item_code, channel, level, excluded, flagged FROM rating_facts WHERE id = ?'),
      markExcluded: db.prepare('UPDATE rating_facts SET excluded = ? WHERE id = ? AND excluded IS NULL'),
    };
  }

  /** Adds one fact and its counts; false if it was already there. Call inside a transaction. */
  add(f: Fact): boolean {
    try {
      const added = this.addTo(f);
      this.applyBumps();
      return added;
    } finally {
      this.dropBumps();
    }
  }

  /**
   * Counts not yet written to the rollups, summed per row: a catch-up chunk of 500 facts
   * touches each hall, channel and busy window row once instead of once per fact (ten
   * upserts per fact before, the largest part of the catch-up).
   */
  private bumps = new Map<string, Bump>();
  /**
   * The fifteen rows of `bumps` that facts of one day, window, staff, item and channel count
   * into, found once per chunk: a chunk has few such combinations, and building fifteen keys
   * per fact to look them up was a third of addTo.
   */
  private bumpRows = new Map<string, Bump[]>();
  /** Month of a day number, for the chunk (monthOfDay formats a date each time). */
  private months = new Map<number, number>();

  private applyBumps(): void {
    for (const b of this.bumps.values())
      this.s.bump[b.t]!.run(b.dim, b.period, b.key, b.n[0], b.n[1], b.n[2], b.n[3], b.n[4], b.flagged, b.misuse);
    this.dropBumps();
  }

  /** Forgets the counts not yet written (after applyBumps, or when the transaction rolled back). */
  private dropBumps(): void {
    this.bumps.clear();
    this.bumpRows.clear();
    this.months.clear();
  }

  /** Adds the fact; its counts wait in `bumps` until applyBumps (in the same transaction). */
  private addTo(f: Fact): boolean {
    const day = dayNumber(f.at);
    let month = this.months.get(day);
    if (month === undefined) this.months.set(day, (month = monthOfDay(day)));
    const misuse = f.policy === 'exclude';
    const flagged = f.policy === 'flag';
    const flags = f.flags?.length ? f.flags.join(',') : null;
    const r = this.s.insert.run(
      f.id,
      f.at,
      day,
      month,
      f.window,
      f.staffId,
      f.itemCode,
      f.channel,
      f.level,
      f.device,
      f.receivedAt,
      misuse ? 'misuse' : null,
      flags,
      flagged ? 1 : 0,
    );
    if (r.changes === 0) return false;
    if (f.itemCode) this.s.item.run(f.itemCode, f.itemName);
    // Lengths first, so that no two combinations share a key whatever their texts hold.
    const staff = f.staffId ?? '';
    const sig = `${day}\u0000${f.channel}\u0000${f.window.length}\u0000${staff.length}\u0000${f.window}\u0000${staff}\u0000${f.itemCode ?? ''}`;
    let rows = this.bumpRows.get(sig);
    if (!rows) this.bumpRows.set(sig, (rows = this.rowsFor(f, day, month)));
    // Misuse is kept out of the level counts (shown, not counted); flagged counts, marked.
    if (misuse) for (const b of rows) b.misuse++;
    else {
      const l = f.level - 1;
      for (const b of rows) {
        b.n[l]!++;
        if (flagged) b.flagged++;
      }
    }
    return true;
  }

  /** The rows of `bumps` a fact counts into (created empty where missing), per dimension and period. */
  private rowsFor(f: Fact, day: number, month: number): Bump[] {
    const periods = [day, month, Math.floor(month / 12)];
    const rows: Bump[] = [];
    for (const [dim, key] of factKeys(f)) {
      for (let t = 0; t < ROLLUPS.length; t++) {
        const k = `${t}\u0000${dim}\u0000${periods[t]}\u0000${key}`;
        let b = this.bumps.get(k);
        if (!b) this.bumps.set(k, (b = { t, dim, period: periods[t]!, key, n: [0, 0, 0, 0, 0], flagged: 0, misuse: 0 }));
        rows.push(b);
      }
    }
    return rows;
  }

  /**
   * Takes a fact out of the statistics without deleting it: 'invalid' (an appeal found the
   * 差评 false or malicious; counted as invalid) or 'superseded' (a default replaced by the
   * real rating). Call inside the transaction that decided it. False if unknown or already out.
   */
  exclude(id: string, why: 'invalid' | 'superseded'): boolean {
    return this.takeOut(id, why) !== null;
  }

  /** exclude(), returning where and when the fact taken out was (null if unknown or already out). */
  private takeOut(id: string, why: 'invalid' | 'superseded'): FactPlace | null {
    // The counts it subtracts from must be written first.
    this.applyBumps();
    const f = this.s.fact.get(id);
    if (!f || f.excluded !== null) return null;
    this.s.markExcluded.run(why, id);
    const periods = [f.day, f.month, Math.floor(f.month / 12)];
    for (const [dim, key] of factKeys({ window: f.window, staffId: f.staff_id, itemCode: f.item_code, channel: f.channel })) {
      for (let t = 0; t < ROLLUPS.length; t++) this.s.exclude[t]![f.level - 1]![why].run(f.flagged, dim, periods[t], key);
    }
    return { window: f.window, at: f.at };
  }

  /**
   * Brings the facts up to date with what is stored, a chunk per transaction. `each` runs
   * inside the transaction for every new fact (work orders are created there). Returns the
   * facts added, the defaults a late real rating took out of the counts (their window and time:
   * the alert checks look at those windows too), and whether more is waiting (when stopped by
   * maxChunks).
   */
  catchUp(
    each: (f: Fact) => void = () => {},
    maxChunks = Infinity,
    chunk = CHUNK,
  ): { added: Fact[]; superseded: FactPlace[]; more: boolean } {
    const added: Fact[] = [];
    const superseded: FactPlace[] = [];
    for (let c = 0; c < maxChunks; c++) {
      let n: number;
      try {
        n = this.db.transaction(() => this.catchUpChunk(added, superseded, each, chunk))();
      } catch (e) {
        // Rolled back: the chunk's facts are taken in again next time, counts and all.
        this.dropBumps();
        throw e;
      }
      if (n < chunk) return { added, superseded, more: false };
    }
    return { added, superseded, more: true };
  }

  private catchUpChunk(added: Fact[], superseded: FactPlace[], each: (f: Fact) => void, chunk: number): number {
    let wm = this.s.wm.get('ratings')!.last_rowid;
    const rows = this.s.ratings.all(wm, chunk);
    for (const row of rows) {
      wm = row.rowid;
      if (row.kind !== 'rating') continue;
      // Counted with the hub's attribution (window, staff, session), never the device's claims.
      const r = attributedRow(row.body, row.attribution);
      const policy = row.action ?? 'count';
      // Excluded by the flag policy: kept in the facts as misuse (shown, not counted), no work order.
      if (policy !== 'exclude' && !this.counts(r)) continue;
      const f = factFromRecord(r, row.received_at);
      if (!f) continue;
      f.policy = policy;
      f.flags = row.shown ? (JSON.parse(row.shown) as string[]) : [];
      if (this.addTo(f)) {
        added.push(f);
        if (policy !== 'exclude') each(f);
      }
    }
    if (rows.length) this.s.setWm.run(wm, 'ratings');

    // Hub-made defaults (and corrections that replace them) come through the forward queue.
    let qwm = this.s.wm.get('forward_queue')!.last_rowid;
    const qrows = this.s.queue.all(qwm, chunk);
    for (const q of qrows) {
      qwm = q.rowid;
      const e = JSON.parse(q.payload) as EvaluationPayload;
      if (e.supersedes && q.kind === 'correction') {
        const out = this.takeOut(e.supersedes, 'superseded');
        if (out) superseded.push(out);
      }
      const qr = q.record_id === null && e.channel === 'qr' && (q.kind === 'rating' || q.kind === 'correction');
      if (q.kind === 'default' || qr) {
        const f: Fact = {
          id: e.id,
          at: e.assessedAt,
          window: e.window,
          staffId: e.staffId,
          itemCode: e.session?.itemCode ?? null,
          itemName: e.session?.itemName ?? null,
          channel: qr ? 'qr' : 'default',
          level: e.level,
          device: e.device,
          receivedAt: q.enqueued_at,
          reasons: e.reasons ?? [],
          cases: e.session?.cases ?? [],
        };
        if (this.addTo(f)) {
          added.push(f);
          each(f);
        }
      }
    }
    this.applyBumps();
    if (qrows.length) this.s.setWm.run(qwm, 'forward_queue');
    else {
      // Nothing of interest: skip past plain rating rows so the next look starts near the end.
      const m = this.s.maxQueue.get()!.m;
      if (m !== null && m > qwm) this.s.setWm.run(m, 'forward_queue');
    }
    return Math.max(rows.length, qrows.length);
  }

  /**
   * Whether a stored device rating is the one that counts for its service. Ingest has already
   * committed the session book's decision with the record, so the session row says it: a
   * session of this device names its rating; a rating without one, or naming a session the
   * hub did not open for this device, is a walk-up rating and counts.
   */
  private counts(r: RatingRecord): boolean {
    if (!r.session) return true;
    const s = this.s.session.get(r.session.id);
    if (!s || s.device !== r.device) return true;
    return s.rating_id === r.id;
  }

  /** Recomputes the daily and monthly counts from rating_facts (after a restore, or to prove them). */
  rebuildRollups(): void {
    this.db.transaction(() => {
      for (const { table, period } of ROLLUPS) {
        this.db.exec(`DELETE FROM ${table}`);
        for (const [dim, expr] of ROLLUP_KEYS)
          this.db.exec(
            `INSERT INTO ${table} (dim, ${period}, key, n1, n2, n3, n4, n5, invalid, flagged, misuse) ${rollupSelect(dim, expr, period)}`,
          );
      }
    })();
  }

  /** Rows where the kept counts differ from a recount of the facts (empty when all agree). */
  checkRollups(): { table: string; dim: string; period: number; key: string }[] {
    const out: { table: string; dim: string; period: number; key: string }[] = [];
    for (const { table, period } of ROLLUPS) {
      for (const [dim, expr] of ROLLUP_KEYS) {
        const fresh = rollupSelect(dim, expr, period);
        const kept = `SELECT dim, ${period} AS period, key, n1, n2, n3, n4, n5, invalid, flagged, misuse FROM ${table} WHERE dim = '${dim}' AND (n1 + n2 + n3 + n4 + n5 + invalid + misuse) > 0`;
        for (const sql of [`${fresh} EXCEPT ${kept}`, `${kept} EXCEPT ${fresh}`]) {
          out.push(
            ...this.db
              .prepare<[], { dim: string; period: number; key: string }>(sql)
              .all()
              .map((r) => ({ table, ...r })),
          );
        }
      }
    }
    return out;
  }
}

export const ROLLUP_KEYS: [Dim, string][] = [
  ['hall', "''"],
  ['window', 'window'],
  ['staff', "coalesce(staff_id, '')"],
  ['item', "coalesce(item_code, '')"],
  ['channel', 'channel'],
];

/** A recount of one dimension's counts from rating_facts (also what hub/ledger checks the kept counts against). */
export function rollupSelect(dim: Dim, keyExpr: string, period: 'day' | 'month' | 'year'): string {
  // rating_facts keeps the day and the month; the year is the month's.
  const col = period === 'year' ? '(month / 12)' : period;
  const n = (l: number) => `sum(level = ${l} AND excluded IS NULL) AS n${l}`;
  return `SELECT '${dim}' AS dim, ${col} AS period, ${keyExpr} AS key, ${n(1)}, ${n(2)}, ${n(3)}, ${n(4)}, ${n(5)}, sum(excluded IS 'invalid') AS invalid,
    sum(flagged = 1 AND excluded IS NULL) AS flagged, sum(excluded IS 'misuse') AS misuse
    FROM rating_facts WHERE excluded IS NOT 'superseded' GROUP BY ${col}, ${keyExpr}`;
}
