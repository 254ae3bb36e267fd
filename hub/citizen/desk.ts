/**
 * The citizen desk: what a scanned QR link may do, decided by the hub alone
 * (docs/citizen-channels.md).
 *
 *  - A receipt link (`r/{record}/{mac}`) of a 差评: add preset reasons of that level and up to
 *    150 characters of text. It reaches the province as the rating's follow-up evaluation
 *    (assessNumber 2, pf 3), sent after the rating itself.
 *  - A rate-later link (`s/{device}/{mac}`) of a session: rate it (five levels, the same per-level
 *    content) until its deadline. Decided by the session book exactly like a late device rating:
 *    the session's first evaluation, or a correction superseding a default already made.
 *
 * One submission per link: the submission row's primary key is the link's subject, inserted in
 * the same transaction as the evaluation it queues, so two concurrent submits cannot both pass.
 * Nothing about the citizen is stored: no address, no cookie, no device of theirs.
 */
import { isBadReview, LEVELS, newRecordId, reasonsForLevel, type Level, type Reason, type RatingRecord } from '../../protocol/index.js';
import type { WorkingDayCalendar } from '../calendar/working-days.js';
import type { Evaluation } from '../forwarder/evaluation.js';
import { enqueueEvaluation } from '../forwarder/forwarder.js';
import type { Registry } from '../registry/registry.js';
import { defaultDeadline, type DefaultPeriod } from '../sessions/deadline.js';
import type { SessionBook, SessionRow } from '../sessions/session-book.js';
import type { Db } from '../store/db.js';
import type { CitizenKeys } from './keys.js';

/** Appended to the hub's MIGRATIONS: one row per used QR link; sessions found by device for rate-later links. */
export const CITIZEN_MIGRATION = `
  CREATE TABLE citizen_submissions (
    -- 'r:<record id>' or 's:<session id>': the primary key is what makes a link single-use.
    link TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('follow-up', 'late-rating')),
    -- The rating a follow-up adds to, or the session rated late.
    subject TEXT NOT NULL,
    -- What went on the forward queue.
    evaluation_id TEXT NOT NULL UNIQUE,
    window TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    reasons TEXT NOT NULL,
    text TEXT CHECK (text IS NULL OR length(text) <= 150),
    at INTEGER NOT NULL
  );
  CREATE INDEX citizen_submissions_subject ON citizen_submissions (subject);
  CREATE INDEX citizen_submissions_at ON citizen_submissions (at);
  CREATE INDEX sessions_by_device ON sessions (device, opened_at);
`;

export const MAX_TEXT = 150;
/** The longest period a link can live (defaults.count and citizen.period.count are at most 60 days, working days at most ~90). */
const MAX_LINK_AGE_MS = 100 * 86_400_000;

/** What a link leads to, as the page shows it. */
export type Lookup =
  | { state: 'forged' }
  | { state: 'unknown' }
  | { state: 'expired'; deadlineAt: number }
  | { state: 'used'; at: number }
  | { state: 'rated' }
  | { state: 'cancelled' }
  | { state: 'not-bad' }
  | { state: 'not-counted' }
  | {
      state: 'open';
      kind: 'follow-up' | 'late-rating';
      window: string;
      windowName: string | null;
      /** follow-up: the rating's level; late-rating: null (the citizen chooses). */
      level: Level | null;
      /** Reasons already given with the rating (follow-up). */
      given: string[];
      /** Preset content per level the citizen may choose from (the hall's catalogue). */
      reasons: Record<Level, Reason[]>;
      itemName: string | null;
      deadlineAt: number;
    };

export interface Submission {
  level?: Level;
  reasons: string[];
  text: string | null;
}

export type SubmitResult = { ok: true; evaluation: Evaluation } | { ok: false; lookup: Lookup } | { ok: false; invalid: string };

export class SubmissionError extends Error {
  override readonly name = 'SubmissionError';
}

// C0/C1 controls, bidi controls and marks, line/paragraph separators, zero-width characters and BOM.
// eslint-disable-next-line no-control-regex
const STRIP = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/gu;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The citizen's text as stored and sent: well-formed Unicode (NFC), control and bidi-control
 * characters removed, line breaks and runs of spaces as one space, trimmed. null when empty.
 * Throws SubmissionError when longer than 150 characters (counted as code points, as the province does).
 */
export function cleanText(raw: string): string | null {
  const t = raw.replace(LONE_SURROGATE, '').normalize('NFC').replace(STRIP, '').replace(/\s+/gu, ' ').trim();
  if (!t) return null;
  const n = [...t].length;
  if (n > MAX_TEXT) throw new SubmissionError(`文字评价最多 ${MAX_TEXT} 字，当前 ${n} 字`);
  return t;
}

export interface CitizenDeskOptions {
  db: Db;
  registry: Registry;
  sessions: SessionBook;
  keys: CitizenKeys;
  calendar: WorkingDayCalendar;
  /** How long a link stays usable; the hub's default period when citizen.period is not set. */
  period: DefaultPeriod | null;
  defaults: DefaultPeriod;
  now: () => number;
  /** Something was queued for the province (kick the forwarder; tell the hall page). */
  onQueued: (e: Evaluation) => void;
}

interface RatingRow {
  device: string;
  received_at: number;
  body: string;
  q_kind: string | null;
  q_payload: string | null;
}

export class CitizenDesk {
  private readonly s;

  constructor(private readonly o: CitizenDeskOptions) {
    const db = o.db;
    this.s = {
      rating: db.prepare<[string], RatingRow>(
        `SELECT r.device, r.received_at, r.body, q.kind AS q_kind, p.payload AS q_payload
           FROM ratings r LEFT JOIN forward_queue q ON q.id = r.id AND q.kind IN ('rating', 'correction')
           LEFT JOIN forward_payload p ON p.n = q.rowid
          WHERE r.id = ?`,
      ),
      submission: db.prepare<[string], { at: number }>('SELECT at FROM citizen_submissions WHERE link = ?'),
      recentSessions: db.prepare<[string, number], SessionRow>(
        'SELECT * FROM sessions WHERE device = ? AND opened_at >= ? ORDER BY opened_at DESC',
      ),
      insert: db.prepare(
        'INSERT INTO citizen_submissions (link, kind, subject, evaluation_id, window, level, reasons, text, at) VALUES (@link, @kind, @subject, @evaluationId, @window, @level, @reasons, @text, @at)',
      ),
      bySubject: db.prepare<[string, string], { kind: string; level: number; reasons: string; text: string | null; at: number }>(
        'SELECT kind, level, reasons, text, at FROM citizen_submissions WHERE subject = ? OR evaluation_id = ? ORDER BY at',
      ),
    };
  }

  private deadline(from: number, fallback: number | null): number {
    if (!this.o.period && fallback !== null) return fallback;
    return defaultDeadline(from, this.o.period ?? this.o.defaults, (d) => this.o.calendar.isWorkingDay(d));
  }

  private catalogue(device: string): Record<Level, Reason[]> {
    const row = this.o.registry.get(device);
    const cat = row ? this.o.registry.config(row).catalogue : null;
    const out = {} as Record<Level, Reason[]>;
    for (const l of LEVELS) out[l] = cat ? reasonsForLevel(cat, l) : [];
    return out;
  }

  private windowName(device: string): string | null {
    const row = this.o.registry.get(device);
    return row ? this.o.registry.config(row).windowName : null;
  }

  /** A receipt link: the 差评 it names, if the MAC is the device's. */
  receipt(recordId: string, mac: string): Lookup {
    const row = this.s.rating.get(recordId);
    // Before the record reached the hub (the device was offline) the link cannot be checked yet.
    if (!row) return { state: 'unknown' };
    if (!this.o.keys.verify(row.device, 'r', recordId, mac)) return { state: 'forged' };
    const used = this.s.submission.get(`r:${recordId}`);
    if (used) return { state: 'used', at: used.at };
    const r = JSON.parse(row.body) as RatingRecord;
    if (r.kind !== 'rating' || r.level === null || !isBadReview(r.level)) return { state: 'not-bad' };
    // Excluded by the hall's flag policy, or a second rating of a rated session: nothing was sent to add to.
    if (!row.q_payload) return { state: 'not-counted' };
    const e = JSON.parse(row.q_payload) as Evaluation;
    const deadlineAt = this.deadline(e.assessedAt, null);
    if (this.o.now() >= deadlineAt) return { state: 'expired', deadlineAt };
    return {
      state: 'open',
      kind: 'follow-up',
      window: e.window,
      windowName: this.windowName(row.device),
      level: e.level,
      given: e.reasons,
      reasons: this.catalogue(row.device),
      itemName: e.session?.itemName ?? null,
      deadlineAt,
    };
  }

  /** The session a rate-later link names: one of the device's recent sessions whose MAC matches. */
  private findSession(device: string, mac: string): SessionRow | null {
    if (!this.o.registry.get(device)) return null;
    for (const s of this.s.recentSessions.all(device, this.o.now() - MAX_LINK_AGE_MS))
      if (this.o.keys.verify(device, 's', s.id, mac)) return s;
    return null;
  }

  rateLater(device: string, mac: string): Lookup {
    const s = this.findSession(device, mac);
    if (!s) return { state: 'forged' };
    return this.sessionLookup(s);
  }

  private sessionLookup(s: SessionRow): Lookup {
    const used = this.s.submission.get(`s:${s.id}`);
    if (used) return { state: 'used', at: used.at };
    if (s.state === 'cancelled') return { state: 'cancelled' };
    if (s.state === 'rated' || s.state === 'corrected') return { state: 'rated' };
    const deadlineAt = this.deadline(s.opened_at, s.deadline_at);
    if (this.o.now() >= deadlineAt) return { state: 'expired', deadlineAt };
    return {
      state: 'open',
      kind: 'late-rating',
      window: s.window,
      windowName: this.windowName(s.device),
      level: null,
      given: [],
      reasons: this.catalogue(s.device),
      itemName: s.item_name,
      deadlineAt,
    };
  }

  private checkReasons(l: Lookup & { state: 'open' }, level: Level, reasons: string[]): string[] {
    const allowed = new Set(l.reasons[level].map((r) => r.code));
    const unique = [...new Set(reasons)];
    if (unique.length > 20) throw new SubmissionError('选择的原因过多');
    for (const c of unique) if (!allowed.has(c)) throw new SubmissionError(`原因 ${c} 不属于所选评价等级`);
    return unique;
  }

  /** Adds reasons and text to a 差评 (the receipt link); the follow-up goes to the province. */
  submitReceipt(recordId: string, mac: string, input: Submission): SubmitResult {
    return this.once(() => {
      const l = this.receipt(recordId, mac);
      if (l.state !== 'open') return { ok: false, lookup: l };
      let reasons: string[];
      try {
        reasons = this.checkReasons(l, l.level!, input.reasons);
      } catch (e) {
        return { ok: false, invalid: (e as Error).message };
      }
      const added = reasons.filter((r) => !l.given.includes(r));
      if (!added.length && !input.text) return { ok: false, invalid: '请至少选择一项原因或填写文字' };
      const row = this.s.rating.get(recordId)!;
      const original = JSON.parse(row.q_payload!) as Evaluation;
      const at = this.o.now();
      const e: Evaluation = {
        id: newRecordId(),
        kind: 'follow-up',
        hall: original.hall,
        device: original.device,
        window: original.window,
        staffId: original.staffId,
        level: original.level,
        // The province gets the whole picture: what was picked at the window and what was added.
        reasons: [...original.reasons, ...added],
        text: input.text,
        session: original.session,
        assessedAt: at,
        clockSynced: true,
        assessNumber: 2,
        flags: [],
        supersedes: null,
        follows: original.id,
        record: null,
        channel: 'qr',
      };
      this.record(`r:${recordId}`, 'follow-up', recordId, e, at);
      return { ok: true, evaluation: e };
    });
  }

  /** Rates a session from its rate-later link. */
  submitRateLater(device: string, mac: string, input: Submission): SubmitResult {
    return this.once(() => {
      const row = this.findSession(device, mac);
      if (!row) return { ok: false, lookup: { state: 'forged' } };
      const l = this.sessionLookup(row);
      if (l.state !== 'open') return { ok: false, lookup: l };
      if (!input.level || !LEVELS.includes(input.level)) return { ok: false, invalid: '请选择一个评价等级' };
      let reasons: string[];
      try {
        reasons = this.checkReasons(l, input.level, input.reasons);
      } catch (e) {
        return { ok: false, invalid: (e as Error).message };
      }
      const at = this.o.now();
      const r = this.o.sessions.rateFromCitizen(row.id, { level: input.level, reasons, text: input.text }, at);
      if (!r.ok) return { ok: false, lookup: r.why === 'cancelled' ? { state: 'cancelled' } : { state: 'rated' } };
      this.record(`s:${row.id}`, 'late-rating', row.id, r.evaluation, at, false);
      return { ok: true, evaluation: r.evaluation };
    });
  }

  /**
   * Runs a submission in one transaction. The lookups inside it already see a used link; the
   * primary key is the last word should two writers ever race (e.g. two hub processes on one
   * database by mistake): the loser's whole transaction rolls back and it is told "used".
   */
  private once(fn: () => SubmitResult): SubmitResult {
    try {
      const r = this.o.db.transaction(fn)();
      if (r.ok) this.o.onQueued(r.evaluation); // after the commit
      return r;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
        return { ok: false, lookup: { state: 'used', at: this.o.now() } };
      throw e;
    }
  }

  /** Inside the caller's transaction: the single-use row (its primary key refuses a second), then the evaluation. */
  private record(link: string, kind: 'follow-up' | 'late-rating', subject: string, e: Evaluation, at: number, enqueue = true): void {
    this.s.insert.run({
      link,
      kind,
      subject,
      evaluationId: e.id,
      window: e.window,
      level: e.level,
      reasons: JSON.stringify(e.reasons),
      text: e.text,
      at,
    });
    if (enqueue) enqueueEvaluation(this.o.db, e, at);
  }

  /** What citizens added on the QR page to a rating (by its id) or gave as a late rating (by the evaluation id): for staff pages. */
  additions(ratingId: string): { kind: 'follow-up' | 'late-rating'; level: number; reasons: string[]; text: string | null; at: number }[] {
    return this.s.bySubject.all(ratingId, ratingId).map((r) => ({
      kind: r.kind as 'follow-up' | 'late-rating',
      level: r.level,
      reasons: JSON.parse(r.reasons) as string[],
      text: r.text,
      at: r.at,
    }));
  }
}
