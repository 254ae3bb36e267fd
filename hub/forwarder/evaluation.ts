/**
 * What the hub sends upstream, before any province's field mapping: one evaluation per
 * rated service. Device ratings, the hub's 7-day defaults and corrections (a real rating
 * that arrived after its default was sent) all take this one shape; a province profile maps
 * it to the province's own fields at the forwarder, never earlier.
 */
import type { Level, RatingRecord, SessionRef } from '../../protocol/index.js';

/**
 * 'follow-up': what a citizen added on the hub's citizen page (reasons, text) to a rating already
 * sent — assessNumber 2, sent after the rating it follows (docs/citizen-channels.md).
 */
export type EvaluationKind = 'rating' | 'default' | 'correction' | 'follow-up';

export interface Evaluation {
  /** Idempotency key at the province: the record id, or the default's own id. */
  id: string;
  kind: EvaluationKind;
  hall: string;
  device: string | null;
  window: string;
  staffId: string | null;
  level: Level;
  reasons: string[];
  /** Free text the citizen wrote (e.g. through the QR code page), ≤150 chars. */
  text: string | null;
  session: SessionRef | null;
  /** When the citizen rated (ms): the device's time if its clock was synced, else when the hub received it. */
  assessedAt: number;
  clockSynced: boolean;
  /** 1: first rating of the service, 2: a follow-up that replaces an earlier one (a correction). */
  assessNumber: 1 | 2;
  flags: string[];
  /** For a correction: the id of the evaluation it replaces. */
  supersedes: string | null;
  /** For a follow-up: the id of the evaluation it adds to (sent before it; not replaced). */
  follows?: string | null;
  /** 'qr': given on the hub's citizen page (a scanned receipt or rate-later QR, pf 3 in the common format); absent: the device. */
  channel?: 'qr';
  /** The device's signed record, for audit and the native profile; null for hub-made defaults. */
  record: RatingRecord | null;
}

/**
 * `attribution`: who the rating is about as the hub knows it (window, staff, session) and the
 * hub's flags; the province gets these, never the device's claims (issue 16). The device's
 * signed record travels unchanged in `record` for audit.
 */
export function evaluationFromRecord(
  r: RatingRecord,
  receivedAt: number,
  supersedes: string | null = null,
  attribution?: { window: string; staffId: string | null; session: SessionRef | null; flags: readonly string[] },
): Evaluation {
  if (r.kind !== 'rating' || r.level === null) throw new TypeError(`record ${r.id} is not a rating`);
  const a = attribution ?? { window: r.window, staffId: r.staffId, session: r.session, flags: [] };
  return {
    id: r.id,
    kind: supersedes ? 'correction' : 'rating',
    hall: r.hall,
    device: r.device,
    window: a.window,
    staffId: a.staffId,
    level: r.level,
    reasons: r.reasons,
    text: null,
    session: a.session,
    assessedAt: r.clockSynced ? r.at : receivedAt,
    clockSynced: r.clockSynced,
    assessNumber: supersedes ? 2 : 1,
    flags: [...r.flags, ...a.flags],
    supersedes,
    record: r,
  };
}
