/**
 * Attribution from the hub's own truth (issue 16). A record's signature proves which device made
 * it, not that its claims are true: a stolen device key could otherwise file 差评 against any
 * window and staff member. So the hub decides who a rating is about from what it knows itself:
 *
 *   - session: the session the hub opened *for this device* that the record names (its cases and
 *     item as the hub stored them); a session the hub did not open for this device is none;
 *   - window: that session's window (the device's registration when the hub opened it); without
 *     one, the device's registration when the record arrives;
 *   - staff: that session's staff member, else whoever the hub has logged in at the device's
 *     window (the device config's staff on duty), else nobody.
 *
 * A record whose claims disagree is stored as signed (its body is never changed) but flagged
 * `attribution-mismatch` and alarmed; what is counted and forwarded carries the hub's
 * attribution, never the claim. A claim of "nobody" (staffId null) is not a disagreement.
 *
 * Rate cap: a person cannot press hundreds of times a second. More than `ratings` ratings of one
 * device within `windowS` seconds of its own press clock (monotonic time within one boot) are
 * flagged `rate-exceeded` and alarmed — still stored, acknowledged and (by default) counted:
 * a signed record is never dropped. The hub's receive time is deliberately not the measure:
 * a device back from an outage legitimately delivers hours of presses in one second.
 *
 * Everything here runs inside the ingest transaction that stores the record; alarms are raised
 * by the caller after that transaction committed.
 */
import type { SessionRow as SessionBookRow } from '../sessions/session-book.js';
import { type RatingRecord, type SessionRef } from '../../protocol/index.js';
import type { Db } from '../store/db.js';

export const ATTRIBUTION_MIGRATION = `
  -- The hub's attribution of each stored record (JSON: window, staffId, session, flags,
  -- mismatches); the columns window, staff_id, session_id and flags hold the same. NULL for
  -- records stored before it existed: those count as their body says.
  ALTER TABLE ratings ADD COLUMN attribution TEXT;
`;

/**
 * Who a device stood for, and when (hub time): one row per period of the same window and staff
 * member on duty, written by triggers in the same statement that changes the registration, so
 * no code path can change a device's window or staff without leaving its history. A backlog
 * delivered after a week offline is attributed to the window and staff of the time it was
 * pressed, not to whoever is on duty when it arrives.
 */
export const ASSIGNMENT_HISTORY_MIGRATION = `
  CREATE TABLE device_assignments (
    device TEXT NOT NULL REFERENCES devices (id),
    window TEXT NOT NULL,
    staff_id TEXT,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER
  );
  CREATE INDEX device_assignments_by_device ON device_assignments (device, from_ms);
  -- What each device has now, since it was registered (the earliest the hub knows).
  INSERT INTO device_assignments (device, window, staff_id, from_ms)
    SELECT id, window, json_extract(settings, '$.staff.id'), created_at FROM devices;
  CREATE TRIGGER device_assignments_on_add AFTER INSERT ON devices BEGIN
    INSERT INTO device_assignments (device, window, staff_id, from_ms)
      VALUES (NEW.id, NEW.window, json_extract(NEW.settings, '$.staff.id'), NEW.created_at);
  END;
  CREATE TRIGGER device_assignments_on_change AFTER UPDATE OF window, settings ON devices
    WHEN OLD.window IS NOT NEW.window OR json_extract(OLD.settings, '$.staff.id') IS NOT json_extract(NEW.settings, '$.staff.id')
  BEGIN
    UPDATE device_assignments SET to_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER) WHERE device = NEW.id AND to_ms IS NULL;
    INSERT INTO device_assignments (device, window, staff_id, from_ms)
      VALUES (NEW.id, NEW.window, json_extract(NEW.settings, '$.staff.id'), CAST(unixepoch('subsec') * 1000 AS INTEGER));
  END;
`;

/** Flags the hub adds to a stored record (the device's own flags stay in its signed body). */
export type HubFlag = 'attribution-mismatch' | 'rate-exceeded';

export interface Mismatch {
  field: 'window' | 'staffId' | 'session';
  claimed: unknown;
  hub: unknown;
}

export interface Attribution {
  window: string;
  staffId: string | null;
  session: SessionRef | null;
  flags: HubFlag[];
  /** What the record claimed that the hub does not believe. */
  mismatches: Mismatch[];
}

export interface RateCap {
  /** Most ratings of one device within windowS seconds of its press clock. */
  ratings: number;
  windowS: number;
}

/**
 * Ten ratings in a minute is already more than one window's citizens can give (each sees a
 * prompt, presses and a thank-you; the repeat filter alone allows one press per 5 s).
 */
export const DEFAULT_RATE_CAP: RateCap = { ratings: 10, windowS: 60 };

/** At most one attribution-mismatch alarm per device this often (every record is still flagged). */
const MISMATCH_ALARM_EVERY_MS = 60_000;

/** What the caller raises as alarms once the transaction committed. */
export interface AttributionAlarm {
  kind: 'attribution-mismatch' | 'rate-exceeded';
  device: string;
  message: string;
  detail: Record<string, unknown>;
}

/** The columns of a session the hub opened that attribution reads. */
type SessionRow = Pick<SessionBookRow, 'device' | 'window' | 'cases' | 'item_code' | 'item_name' | 'staff_id'>;

const sameSession = (a: SessionRef, b: SessionRef) =>
  a.id === b.id &&
  a.itemCode === b.itemCode &&
  a.itemName === b.itemName &&
  a.cases.length === b.cases.length &&
  a.cases.every((c, i) => c === b.cases[i]);

/** Per device: the press times (device mono, ms) of its recent ratings within one boot. */
interface PressWindow {
  bootId: string;
  presses: Map<string, number>; // record id → mono (a resent record is not counted twice)
  over: boolean; // alarmed for the current burst
}

export class Attributor {
  private readonly stmts;
  private readonly presses = new Map<string, PressWindow>();
  private readonly cap: RateCap;

  constructor(db: Db, cap: RateCap = DEFAULT_RATE_CAP) {
    this.cap = cap;
    this.stmts = {
      device: db.prepare<[string], { window: string; settings: string }>('SELECT window, settings FROM devices WHERE id = ?'),
      session: db.prepare<[string], SessionRow>('SELECT device, window, cases, item_code, item_name, staff_id FROM sessions WHERE id = ?'),
      assignment: db.prepare<[string, number], { window: string; staff_id: string | null }>(
        'SELECT window, staff_id FROM device_assignments WHERE device = ? AND from_ms <= ? ORDER BY from_ms DESC, rowid DESC LIMIT 1',
      ),
    };
  }

  /** Per device: when its last attribution-mismatch alarm was raised (hub time). */
  private readonly lastMismatchAlarm = new Map<string, number>();

  /**
   * The hub's attribution of a verified record; `alarms` collects what to raise after commit.
   * Every mismatching record is flagged; the alarm is raised at most once a minute per device,
   * so a forger's flood cannot turn into one alarm write per record.
   */
  attribute(r: RatingRecord, alarms: AttributionAlarm[], now = Date.now()): Attribution {
    const dev = this.stmts.device.get(r.device);
    const row = r.session ? this.stmts.session.get(r.session.id) : undefined;
    const own = row && row.device === r.device ? row : undefined;
    const session: SessionRef | null = own
      ? { id: r.session!.id, cases: JSON.parse(own.cases) as string[], itemCode: own.item_code, itemName: own.item_name }
      : null;
    // Without a session of its own: the device's registration when the record was pressed. The
    // press time is the device's claim, so the hub bounds it: never after the record arrived,
    // and only a synced clock is believed at all (else: when it arrived). A forger can at most
    // pick a past assignment of its own device; the claims are still compared below.
    const pressedAt = r.clockSynced ? Math.min(r.at, now) : now;
    const then = own ? undefined : this.stmts.assignment.get(r.device, pressedAt);
    const onDuty = then ? then.staff_id : dev ? staffOnDuty(dev.settings) : null;
    const window = own?.window ?? then?.window ?? dev?.window ?? r.window;
    const staffId = own?.staff_id ?? onDuty;

    const mismatches: Mismatch[] = [];
    if (r.window !== window) mismatches.push({ field: 'window', claimed: r.window, hub: window });
    if (r.staffId !== null && r.staffId !== staffId) mismatches.push({ field: 'staffId', claimed: r.staffId, hub: staffId });
    if (r.session && !(session && sameSession(r.session, session))) mismatches.push({ field: 'session', claimed: r.session, hub: session });

    const flags: HubFlag[] = [];
    const last = this.lastMismatchAlarm.get(r.device);
    if (mismatches.length) flags.push('attribution-mismatch');
    if (mismatches.length && (last === undefined || now - last >= MISMATCH_ALARM_EVERY_MS)) {
      this.lastMismatchAlarm.set(r.device, now);
      alarms.push({
        kind: 'attribution-mismatch',
        device: r.device,
        message: `${r.device} signed a record claiming ${mismatches.map((m) => `${m.field} ${JSON.stringify(m.field === 'session' ? (m.claimed as SessionRef).id : m.claimed)}`).join(', ')}; the hub attributes it to window ${window}, staff ${staffId ?? '—'}${session ? `, session ${session.id}` : ''}`,
        detail: {
          id: r.id,
          seq: r.seq,
          mismatches: mismatches.map((m) => ({
            ...m,
            claimed: m.field === 'session' ? (m.claimed as SessionRef).id : m.claimed,
            hub: m.field === 'session' ? ((m.hub as SessionRef | null)?.id ?? null) : m.hub,
          })),
        },
      });
    }
    if (r.kind === 'rating' && this.overCap(r, alarms)) flags.push('rate-exceeded');
    return { window, staffId, session, flags, mismatches };
  }

  private overCap(r: RatingRecord, alarms: AttributionAlarm[]): boolean {
    let w = this.presses.get(r.device);
    if (!w || w.bootId !== r.bootId) this.presses.set(r.device, (w = { bootId: r.bootId, presses: new Map(), over: false }));
    w.presses.set(r.id, r.mono);
    const span = this.cap.windowS * 1000;
    let newest = -Infinity;
    for (const m of w.presses.values()) newest = Math.max(newest, m);
    for (const [id, m] of w.presses) if (m < newest - span) w.presses.delete(id);
    // Bounded even if a device claims every press at the same instant.
    if (w.presses.size > 4 * this.cap.ratings + 64) w.presses.delete(w.presses.keys().next().value!);
    let within = 0;
    for (const m of w.presses.values()) if (m > r.mono - span && m <= r.mono) within++;
    const over = within > this.cap.ratings;
    if (over && !w.over) {
      alarms.push({
        kind: 'rate-exceeded',
        device: r.device,
        message: `${r.device} sent ${within} ratings within ${this.cap.windowS} s of its own clock (the cap is ${this.cap.ratings}): faster than citizens press; flagged rate-exceeded, kept`,
        detail: { id: r.id, seq: r.seq, within, cap: this.cap },
      });
    }
    w.over = over;
    return over;
  }
}

function staffOnDuty(settings: string): string | null {
  try {
    const s = JSON.parse(settings) as { staff?: { id?: unknown } | null };
    return typeof s.staff?.id === 'string' ? s.staff.id : null;
  } catch {
    return null;
  }
}

/**
 * The record as the hub counts it: the device's level, reasons and time; the hub's window, staff
 * and session; the device's flags and the hub's. Not a signed record any more (its signature
 * covers the claims) — for counting and display only; the stored body stays as signed.
 */
export function attributedRecord(r: RatingRecord, a: Pick<Attribution, 'window' | 'staffId' | 'session' | 'flags'> | null): RatingRecord {
  if (!a) return r;
  return { ...r, window: a.window, staffId: a.staffId, session: a.session, flags: [...r.flags, ...a.flags] as RatingRecord['flags'] };
}

/** attributedRecord from a stored row's body and attribution column. */
export function attributedRow(body: string, attribution: string | null): RatingRecord {
  return attributedRecord(JSON.parse(body) as RatingRecord, attribution ? (JSON.parse(attribution) as Attribution) : null);
}
