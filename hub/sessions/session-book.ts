/**
 * Service sessions: the queue/business system says "this case is finished at window 12",
 * the hub opens a session, the window's device prompts the citizen, and the rating that
 * comes back is tied to the session's cases (one rating for a whole batch, Ankang art. 11).
 *
 * Which evaluation of a session counts is decided here, inside the ingest transaction that
 * stores the device's record, so the record, the session's outcome and what goes to the
 * province commit together:
 *   - the first rating of an open session counts and is forwarded as a rating;
 *   - a 'not-rated' record (the prompt timed out) is the device's report, not forwarded —
 *     the default still comes when the deadline passes;
 *   - after the deadline, the hub makes a 基本满意 (level 3) default with its own id;
 *   - a real rating that arrives after its default was made supersedes it: stored, and sent
 *     to the province as a correction of the default (assessNumber 2).
 */
import { CodedError } from '../../common/errors.js';
import type { Logger } from 'pino';
import { DEFAULT_LEVEL, newRecordId, type Level, type RatingRecord, type SessionRef } from '../../protocol/index.js';
import { evaluationFromRecord, type Evaluation } from '../forwarder/evaluation.js';
import type { Attribution } from '../ingest/attribution.js';
import { enqueueEvaluation } from '../forwarder/forwarder.js';
import type { WorkingDayCalendar } from '../calendar/working-days.js';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';
import { defaultDeadline, type DefaultPeriod } from './deadline.js';

export const SESSIONS_MIGRATION = `
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    window TEXT NOT NULL,
    cases TEXT NOT NULL,
    item_code TEXT,
    item_name TEXT,
    staff_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('open', 'rated', 'cancelled', 'defaulted', 'corrected')),
    opened_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    closed_at INTEGER,
    rating_id TEXT,
    not_rated_id TEXT,
    not_rated_at INTEGER,
    default_id TEXT,
    default_at INTEGER,
    counted_id TEXT,
    counted_kind TEXT CHECK (counted_kind IN ('rating', 'default', 'correction')),
    counted_level INTEGER
  );
  CREATE INDEX sessions_due ON sessions (state, deadline_at);
  CREATE INDEX sessions_by_window ON sessions (window, opened_at);
`;

export type SessionState = 'open' | 'rated' | 'cancelled' | 'defaulted' | 'corrected';

/** A row of the sessions table. */
export interface SessionRow {
  id: string;
  device: string;
  window: string;
  cases: string;
  item_code: string | null;
  item_name: string | null;
  staff_id: string | null;
  state: SessionState;
  opened_at: number;
  deadline_at: number;
  closed_at: number | null;
  rating_id: string | null;
  not_rated_id: string | null;
  not_rated_at: number | null;
  default_id: string | null;
  default_at: number | null;
  counted_id: string | null;
  counted_kind: 'rating' | 'default' | 'correction' | null;
  counted_level: number | null;
}

export interface SessionView {
  id: string;
  device: string;
  window: string;
  cases: string[];
  itemCode: string | null;
  itemName: string | null;
  staffId: string | null;
  state: SessionState;
  openedAt: number;
  /** When the 基本满意 default applies if nobody rates. */
  deadlineAt: number;
  closedAt: number | null;
  /** The device reported that its prompt timed out (a 'not-rated' record). */
  notRatedAt: number | null;
  ratingId: string | null;
  defaultId: string | null;
  /** The evaluation that counts for this service, once there is one. */
  counted: { id: string; kind: 'rating' | 'default' | 'correction'; level: number } | null;
  /** Everything sent (or queued) to the province for this session. */
  evaluations: { id: string; kind: string; state: string; forwardedAt: number | null; supersedes: string | null }[];
}

type SessionErrorCode = 'not-found' | 'conflict' | 'closed' | 'paused' | 'too-large';
const SESSION_STATUS: Record<SessionErrorCode, number> = {
  'not-found': 404,
  conflict: 409,
  closed: 409,
  paused: 409,
  'too-large': 413,
};

export class SessionError extends CodedError<SessionErrorCode> {
  override readonly name = 'SessionError';
  constructor(code: SessionErrorCode, message: string) {
    super(code, message, SESSION_STATUS[code]);
  }
}

export interface OpenSessionInput {
  id?: string;
  device: string;
  window: string;
  cases: string[];
  itemCode: string | null;
  itemName: string | null;
  staffId: string | null;
}

export interface SessionBookOptions {
  db: Db;
  hall: string;
  metrics: Metrics;
  log: Logger;
  period: DefaultPeriod;
  /** The hub's one working-day calendar (also the 差评 deadlines'). */
  calendar: WorkingDayCalendar;
  now?: () => number;
  /**
   * The hall's flag policy for a newly stored rating (hub/policy/rating-judge.ts), given whether
   * it answers a session this hub opened for the device, with the flags the hub's attribution added. 'exclude': stored, not forwarded, and
   * the session stays open for a real rating or its default. Without it every rating counts.
   */
  judge?: (
    r: RatingRecord,
    hubSession: boolean,
    receivedAt: number,
    hubFlags: readonly string[],
  ) => { action: 'count' | 'flag' | 'exclude'; flags: string[] };
}

export function sessionRef(row: { id: string; cases: string; item_code: string | null; item_name: string | null }): SessionRef {
  return { id: row.id, cases: JSON.parse(row.cases) as string[], itemCode: row.item_code, itemName: row.item_name };
}

export class SessionBook {
  private readonly now: () => number;
  private readonly stmts;

  constructor(private readonly o: SessionBookOptions) {
    this.now = o.now ?? Date.now;
    const db = o.db;
    this.stmts = {
      get: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
      insert: db.prepare(`INSERT INTO sessions (id, device, window, cases, item_code, item_name, staff_id, state, opened_at, deadline_at)
        VALUES (@id, @device, @window, @cases, @itemCode, @itemName, @staffId, 'open', @openedAt, @deadlineAt)`),
      cancel: db.prepare("UPDATE sessions SET state = 'cancelled', closed_at = ? WHERE id = ? AND state = 'open'"),
      rated: db.prepare(
        "UPDATE sessions SET state = 'rated', closed_at = ?, rating_id = ?, counted_id = ?, counted_kind = 'rating', counted_level = ? WHERE id = ?",
      ),
      corrected: db.prepare(
        "UPDATE sessions SET state = 'corrected', closed_at = ?, rating_id = ?, counted_id = ?, counted_kind = 'correction', counted_level = ? WHERE id = ?",
      ),
      // The citizen page's rating (rateFromCitizen): only if the session is still in the state it was read in.
      ratedFrom: db.prepare(
        "UPDATE sessions SET state = 'rated', closed_at = ?, rating_id = ?, counted_id = ?, counted_kind = 'rating', counted_level = ? WHERE id = ? AND state = ?",
      ),
      correctedFrom: db.prepare(
        "UPDATE sessions SET state = 'corrected', closed_at = ?, rating_id = ?, counted_id = ?, counted_kind = 'correction', counted_level = ? WHERE id = ? AND state = ?",
      ),
      notRated: db.prepare('UPDATE sessions SET not_rated_id = ?, not_rated_at = ? WHERE id = ? AND not_rated_id IS NULL'),
      due: db.prepare<[number, number], SessionRow>(
        "SELECT * FROM sessions WHERE state = 'open' AND deadline_at <= ? ORDER BY deadline_at LIMIT ?",
      ),
      defaulted: db.prepare(
        "UPDATE sessions SET state = 'defaulted', closed_at = ?, default_id = ?, default_at = ?, counted_id = ?, counted_kind = 'default', counted_level = ? WHERE id = ? AND state = 'open'",
      ),
      nextDeadline: db.prepare<[], { t: number | null }>("SELECT min(deadline_at) AS t FROM sessions WHERE state = 'open'"),
      evaluations: db.prepare<[string, string], { id: string; kind: string; state: string; forwarded_at: number | null; payload: string }>(
        'SELECT id, kind, state, forwarded_at, p.payload FROM forward_queue AS q JOIN forward_payload AS p ON p.n = q.rowid WHERE id IN (?, ?) ORDER BY enqueued_at, q.rowid',
      ),
    };
  }

  private view(r: SessionRow): SessionView {
    const evs = this.stmts.evaluations.all(r.rating_id ?? '', r.default_id ?? '');
    return {
      id: r.id,
      device: r.device,
      window: r.window,
      cases: JSON.parse(r.cases) as string[],
      itemCode: r.item_code,
      itemName: r.item_name,
      staffId: r.staff_id,
      state: r.state,
      openedAt: r.opened_at,
      deadlineAt: r.deadline_at,
      closedAt: r.closed_at,
      notRatedAt: r.not_rated_at,
      ratingId: r.rating_id,
      defaultId: r.default_id,
      counted: r.counted_id && r.counted_kind ? { id: r.counted_id, kind: r.counted_kind, level: r.counted_level! } : null,
      evaluations: evs.map((e) => ({
        id: e.id,
        kind: e.kind,
        state: e.state,
        forwardedAt: e.forwarded_at,
        supersedes: (JSON.parse(e.payload) as Evaluation).supersedes ?? null,
      })),
    };
  }

  get(id: string): SessionView | null {
    const r = this.stmts.get.get(id);
    return r ? this.view(r) : null;
  }

  list(opts: { window?: string; state?: SessionState; limit?: number } = {}): SessionView[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (opts.window) (where.push('window = ?'), args.push(opts.window));
    if (opts.state) (where.push('state = ?'), args.push(opts.state));
    const sql = `SELECT * FROM sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY opened_at DESC LIMIT ?`;
    return this.o.db
      .prepare<(string | number)[], SessionRow>(sql)
      .all(...args, opts.limit ?? 100)
      .map((r) => this.view(r));
  }

  /**
   * Opens a session. Opening the same id again with the same content is a retry and returns
   * the session as it is (created: false); with other content it is a conflict.
   */
  open(input: OpenSessionInput): { session: SessionView; ref: SessionRef; created: boolean } {
    const id = input.id ?? newRecordId();
    const existing = this.stmts.get.get(id);
    const cases = JSON.stringify(input.cases);
    if (existing) {
      const same =
        existing.device === input.device &&
        existing.cases === cases &&
        existing.item_code === input.itemCode &&
        existing.item_name === input.itemName &&
        existing.staff_id === input.staffId;
      if (!same) throw new SessionError('conflict', `session ${id} already exists with other content`);
      return { session: this.view(existing), ref: sessionRef(existing), created: false };
    }
    const openedAt = this.now();
    const deadlineAt = defaultDeadline(openedAt, this.o.period, (day) => this.o.calendar.isWorkingDay(day));
    this.stmts.insert.run({
      id,
      device: input.device,
      window: input.window,
      cases,
      itemCode: input.itemCode,
      itemName: input.itemName,
      staffId: input.staffId,
      openedAt,
      deadlineAt,
    });
    this.o.metrics.sessions.inc({ outcome: 'opened' });
    const row = this.stmts.get.get(id)!;
    return { session: this.view(row), ref: sessionRef(row), created: true };
  }

  /** Withdraws an open session (opened by mistake): no rating is expected and no default made. */
  cancel(id: string): SessionView {
    const row = this.stmts.get.get(id);
    if (!row) throw new SessionError('not-found', `no session ${id}`);
    if (row.state === 'cancelled') return this.view(row);
    if (this.stmts.cancel.run(this.now(), id).changes === 0)
      throw new SessionError('closed', `session ${id} is already ${row.state}; it can no longer be cancelled`);
    this.o.metrics.sessions.inc({ outcome: 'cancelled' });
    return this.view(this.stmts.get.get(id)!);
  }

  /**
   * Runs inside the ingest transaction for each newly stored record: decides what is forwarded.
   * `a` is the hub's attribution: its session is one this hub opened for this device, or none.
   */
  onRecordStored = (r: RatingRecord, receivedAt: number, a?: Attribution): void => {
    const found = r.session ? this.stmts.get.get(r.session.id) : undefined;
    // A session belongs to the device it was opened on; another device cannot answer it.
    const row = found && found.device === r.device && (!a || a.session?.id === found.id) ? found : undefined;
    if (found && !row)
      this.o.log.warn(
        { session: found.id, device: r.device, sessionDevice: found.device },
        'a record names a session opened on another device; treated as sessionless',
      );
    if (r.kind === 'not-rated') {
      // The device's report that nobody pressed; the default comes at the deadline.
      if (row) this.stmts.notRated.run(r.id, receivedAt, row.id);
      return;
    }
    const decision = this.o.judge?.(r, !!row, receivedAt, a?.flags ?? []);
    if (decision?.action === 'exclude') {
      // Kept and shown, never forwarded as a rating; a session it names stays open.
      this.o.log.info(
        { record: r.id, device: r.device, flags: decision.flags },
        "a flagged rating is excluded by the hall's flag policy: stored, not counted, not forwarded",
      );
      return;
    }
    // The province gets the flags as the hub sees them (its own session truth and attribution flags included).
    const evaluation = (supersedes: string | null = null) => ({
      ...evaluationFromRecord(r, receivedAt, supersedes, a),
      ...(decision ? { flags: decision.flags } : {}),
    });
    const forwardAsRating = () => enqueueEvaluation(this.o.db, evaluation(), receivedAt);
    if (!row) return forwardAsRating(); // walk-up, or a session this hub did not open
    const level = r.level as Level;
    switch (row.state) {
      case 'open':
      case 'cancelled': // the cancel reached the device too late: the citizen did press
        this.stmts.rated.run(receivedAt, r.id, r.id, level, row.id);
        this.o.metrics.sessions.inc({ outcome: 'rated' });
        return forwardAsRating();
      case 'defaulted':
        enqueueEvaluation(this.o.db, evaluation(row.default_id), receivedAt);
        this.stmts.corrected.run(receivedAt, r.id, r.id, level, row.id);
        this.o.metrics.sessions.inc({ outcome: 'corrected' });
        this.o.log.info(
          { session: row.id, record: r.id, supersedes: row.default_id },
          'a late rating supersedes the default; correction queued for the province',
        );
        return;
      default:
        // One rating per service (一次一评): a second one is kept, not forwarded.
        this.o.metrics.sessions.inc({ outcome: 'extra-rating' });
        this.o.log.warn(
          { session: row.id, record: r.id, counted: row.counted_id },
          'a second rating for an already rated session: stored, not forwarded',
        );
    }
  };

  /**
   * A rating given on the hub's citizen page for a session nobody rated at the window (the
   * citizen scanned its rate-later QR; hub/citizen/). Decided exactly like a late device rating:
   * an open session counts it as its first evaluation; a defaulted one gets it as a correction
   * that supersedes the default already queued. Call inside the transaction that records the
   * submission: the state check is in the UPDATE's WHERE, so a device rating or a default that
   * got there first wins and this returns why not.
   */
  rateFromCitizen(
    id: string,
    input: { level: Level; reasons: string[]; text: string | null },
    at: number,
  ): { ok: true; evaluation: Evaluation } | { ok: false; why: 'not-found' | 'rated' | 'cancelled' } {
    const row = this.stmts.get.get(id);
    if (!row) return { ok: false, why: 'not-found' };
    if (row.state === 'cancelled') return { ok: false, why: 'cancelled' };
    if (row.state !== 'open' && row.state !== 'defaulted') return { ok: false, why: 'rated' };
    const supersedes = row.state === 'defaulted' ? row.default_id : null;
    const e: Evaluation = {
      id: newRecordId(),
      kind: supersedes ? 'correction' : 'rating',
      hall: this.o.hall,
      device: row.device,
      window: row.window,
      staffId: row.staff_id,
      level: input.level,
      reasons: input.reasons,
      text: input.text,
      session: sessionRef(row),
      assessedAt: at,
      clockSynced: true,
      assessNumber: supersedes ? 2 : 1,
      flags: [],
      supersedes,
      record: null,
      channel: 'qr',
    };
    const stmt = supersedes ? this.stmts.correctedFrom : this.stmts.ratedFrom;
    if (stmt.run(at, e.id, e.id, input.level, row.id, row.state).changes !== 1) return { ok: false, why: 'rated' };
    enqueueEvaluation(this.o.db, e, at);
    this.o.metrics.sessions.inc({ outcome: supersedes ? 'corrected' : 'rated' });
    this.o.log.info(
      { session: row.id, evaluation: e.id, supersedes },
      supersedes ? 'a QR rating supersedes the default; correction queued for the province' : 'a session was rated from its QR',
    );
    return { ok: true, evaluation: e };
  }

  /** Makes the defaults whose deadline has passed; returns how many. Safe to call any time. */
  createDueDefaults(limit = 500): number {
    const now = this.now();
    let made = 0;
    this.o.db.transaction(() => {
      for (const row of this.stmts.due.all(now, limit)) {
        const e: Evaluation = {
          id: newRecordId(),
          kind: 'default',
          hall: this.o.hall,
          device: row.device,
          window: row.window,
          staffId: row.staff_id,
          level: DEFAULT_LEVEL, // 基本满意
          reasons: [],
          text: null,
          session: sessionRef(row),
          // The service counts as rated when the period ran out, whenever the hub got round to it.
          assessedAt: row.deadline_at,
          clockSynced: true,
          assessNumber: 1,
          flags: [],
          supersedes: null,
          record: null,
        };
        enqueueEvaluation(this.o.db, e, now);
        this.stmts.defaulted.run(now, e.id, now, e.id, DEFAULT_LEVEL, row.id);
        made++;
      }
    })();
    if (made) {
      this.o.metrics.sessions.inc({ outcome: 'defaulted' }, made);
      this.o.log.info({ defaults: made }, 'unrated sessions reached their deadline: 基本满意 defaults queued for the province');
    }
    return made;
  }

  nextDeadline(): number | null {
    return this.stmts.nextDeadline.get()!.t;
  }
}
