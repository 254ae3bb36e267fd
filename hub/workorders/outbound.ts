/**
 * What leaves the hall when a 差评 work order moves (Hubei art. 14–15, Ankang art. 15: the
 * handling of every 差评 is reported upward): each step becomes a milestone for the province; an
 * appeal judged 无效差评 also becomes an invalidation of that evaluation; a hand-off becomes a
 * message to the hand-off destination. All are put on the durable forward queue inside the
 * transaction that appended the step to the order's trail, so a step is never recorded without
 * its message, nor sent without its step (a crash in between rolls both back).
 *
 * Keys are derived from the rating id, the trail version and the milestone type (UUIDv5), so the
 * same step always yields the same key: the province deduplicates every resend.
 */
import type { Db } from '../store/db.js';
import { enqueueMessage, messageId, previousInChain } from '../forwarder/messages.js';
import type { Actor, Command, OrderEvent } from './machine.js';
import type { TrailEntry, WorkOrder } from './store.js';

export type MilestoneType = 'verified' | 'extended' | 'rectified' | 'appeal-decided' | 'revisited' | 'closed' | 'handed-off';

/** The queued JSON of a milestone (the native profile sends it as it is). */
export interface Milestone {
  id: string;
  kind: 'milestone';
  hall: string;
  /** The evaluation this 差评 was sent to the province as (the rating id). */
  evaluationId: string;
  window: string;
  level: number;
  cases: string[];
  itemCode: string | null;
  order: { id: number; version: number };
  type: MilestoneType;
  /** verified: valid | invalid (appealed as 误评/恶意); appeal-decided: upheld | invalid; revisited: satisfied | unsatisfied; closed: resolved | unresolved | invalid | handed-off. */
  result: string | null;
  /** The hall's words: the rectification result, the revisit record, the grounds of a decision. */
  text: string | null;
  class: string | null;
  /** The limit the order runs to after this step (null once closed). */
  dueAt: number | null;
  extendAmount: number | null;
  extendUnit: string | null;
  /** The step was taken after its limit (超期办理). */
  late: boolean;
  at: number;
  handler: string;
}

export interface Invalidation {
  id: string;
  kind: 'invalidation';
  hall: string;
  evaluationId: string;
  window: string;
  level: number;
  cases: string[];
  order: { id: number; version: number };
  /** The review's grounds (复核意见). */
  reason: string | null;
  at: number;
  decidedBy: string;
}

export interface Handoff {
  id: string;
  kind: 'handoff';
  hall: string;
  evaluationId: string;
  window: string;
  staffId: string | null;
  level: number;
  reasons: string[];
  cases: string[];
  itemCode: string | null;
  itemName: string | null;
  ratedAt: number;
  /** Where the hall's handling stood when it handed the 差评 on. */
  order: { id: number; version: number; state: string; class: string | null };
  /** The destination's name (e.g. 12345政务服务便民热线). */
  target: string;
  /** Why the hall hands it on. */
  text: string | null;
  history: { at: number; action: string; note: string | null }[];
  at: number;
  handler: string;
}

/** The milestones one step makes: most make one; a revisit or an appeal judged invalid also closes the order. */
export function milestonesOf(
  before: WorkOrder,
  after: WorkOrder,
  cmd: Command,
  event: OrderEvent,
): { type: MilestoneType; result: string | null }[] {
  const out: { type: MilestoneType; result: string | null }[] = [];
  switch (cmd.type) {
    case 'confirm':
      out.push({ type: 'verified', result: 'valid' });
      break;
    case 'appeal':
      // The hall's verification found the 差评 not true (误评/恶意差评) and appealed.
      out.push({ type: 'verified', result: 'invalid' });
      break;
    case 'judge':
      out.push({ type: 'appeal-decided', result: cmd.outcome });
      break;
    case 'extend':
      out.push({ type: 'extended', result: null });
      break;
    case 'rectify':
      out.push({ type: 'rectified', result: null });
      break;
    case 'revisit':
      out.push({ type: 'revisited', result: cmd.satisfied ? 'satisfied' : 'unsatisfied' });
      break;
    case 'hand-off':
      out.push({ type: 'handed-off', result: null });
      break;
    default:
      // start-verify and comment stay in the hall.
      return [];
  }
  if (after.outcome && after.outcome !== before.outcome) out.push({ type: 'closed', result: after.outcome });
  void event;
  return out;
}

export interface OutboundContext {
  db: Db;
  hall: string;
  /** The hand-off destination's name, when one is configured. */
  handoffTarget: string | null;
}

/**
 * Queues what one step of an order sends out. Runs inside WorkOrders.act's transaction. A 差评
 * whose evaluation never went on the province queue (a hall without forwarding rules it out, or
 * a policy that keeps flagged ratings home) sends no milestones: the province would not know it.
 */
export function queueOutbound(
  c: OutboundContext,
  before: WorkOrder,
  after: WorkOrder,
  cmd: Command,
  event: OrderEvent,
  actor: Actor,
  at: number,
  trail: () => TrailEntry[],
): void {
  const evaluationId = after.ratingId;
  const known = c.db
    .prepare<[string], { n: number }>("SELECT 1 AS n FROM forward_queue WHERE id = ? AND destination = 'province'")
    .get(evaluationId);
  const version = after.version;
  const note = event.note;
  if (known) {
    for (const m of milestonesOf(before, after, cmd, event)) {
      const id = messageId(evaluationId, 'milestone', version, m.type);
      const payload: Milestone = {
        id,
        kind: 'milestone',
        hall: c.hall,
        evaluationId,
        window: after.window,
        level: after.level,
        cases: after.cases,
        itemCode: after.itemCode,
        order: { id: after.id, version },
        type: m.type,
        result: m.result,
        text: m.type === 'closed' ? null : note,
        class: after.class,
        dueAt: after.dueAt,
        extendAmount: cmd.type === 'extend' ? cmd.amount : null,
        extendUnit: cmd.type === 'extend' ? ((event.data.unit as string | undefined) ?? null) : null,
        late: event.data.late === true,
        at,
        handler: actor.name,
      };
      enqueueMessage(
        c.db,
        {
          id,
          kind: 'milestone',
          subject: evaluationId,
          after: previousInChain(c.db, evaluationId),
          payload: payload as unknown as Milestone & Record<string, unknown>,
        },
        at,
      );
    }
    if (cmd.type === 'judge' && cmd.outcome === 'invalid') {
      const id = messageId(evaluationId, 'invalidation');
      const payload: Invalidation = {
        id,
        kind: 'invalidation',
        hall: c.hall,
        evaluationId,
        window: after.window,
        level: after.level,
        cases: after.cases,
        order: { id: after.id, version },
        reason: note,
        at,
        decidedBy: actor.name,
      };
      enqueueMessage(
        c.db,
        {
          id,
          kind: 'invalidation',
          subject: evaluationId,
          after: previousInChain(c.db, evaluationId),
          payload: payload as unknown as Invalidation & Record<string, unknown>,
        },
        at,
      );
    }
  }
  if (cmd.type === 'hand-off') {
    // Handed on whether or not the province has the evaluation: the hand-off is the hall's own act.
    const id = messageId(evaluationId, 'handoff', version);
    const payload: Handoff = {
      id,
      kind: 'handoff',
      hall: c.hall,
      evaluationId,
      window: after.window,
      staffId: after.staffId,
      level: after.level,
      reasons: after.reasons,
      cases: after.cases,
      itemCode: after.itemCode,
      itemName: after.itemName,
      ratedAt: after.ratedAt,
      order: { id: after.id, version, state: before.state, class: before.class },
      target: c.handoffTarget ?? '',
      text: note,
      history: trail()
        // The steps before this one: the hand-off's own words are in `text`.
        .filter((t) => t.action !== 'create' && t.version < version)
        .map((t) => ({ at: t.at, action: t.action, note: t.note })),
      at,
      handler: actor.name,
    };
    enqueueMessage(
      c.db,
      {
        id,
        kind: 'handoff',
        destination: 'handoff',
        subject: evaluationId,
        payload: payload as unknown as Handoff & Record<string, unknown>,
      },
      at,
    );
  }
}

/** One message about a 差评 on the forward queue, as the work-order page shows it. */
export interface OutboundEntry {
  id: string;
  kind: string;
  destination: string;
  /** For a milestone: its type and result. */
  type: string | null;
  result: string | null;
  state: 'pending' | 'done' | 'rejected';
  enqueuedAt: number;
  forwardedAt: number | null;
  attempts: number;
  lastError: string | null;
}

/** What was queued for a 差评's evaluation — milestones, invalidation, hand-off — and whether it arrived. */
export function outboundFor(db: Db, evaluationId: string): OutboundEntry[] {
  return db
    .prepare<
      [{ id: string }],
      {
        id: string;
        kind: string;
        destination: string;
        type: string | null;
        result: string | null;
        state: OutboundEntry['state'];
        enqueued_at: number;
        forwarded_at: number | null;
        attempts: number;
        last_error: string | null;
      }
    >(
      "SELECT id, kind, destination, json_extract(p.payload, '$.type') AS type, json_extract(p.payload, '$.result') AS result, state, enqueued_at, forwarded_at, attempts, last_error FROM forward_queue AS q JOIN forward_payload AS p ON p.n = q.rowid WHERE id = @id OR subject = @id ORDER BY q.rowid",
    )
    .all({ id: evaluationId })
    .map((r) => ({
      id: r.id,
      kind: r.kind,
      destination: r.destination,
      type: r.type,
      result: r.result,
      state: r.state,
      enqueuedAt: r.enqueued_at,
      forwardedAt: r.forwarded_at,
      attempts: r.attempts,
      lastError: r.last_error,
    }));
}
