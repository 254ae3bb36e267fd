/**
 * Messages other than evaluations on the durable forward queue: how one is queued (in the
 * transaction of its cause, like an evaluation), and how a profile maps it to wire items.
 *
 * Each stream (message-kinds.ts) has a builder that turns the queued payload into canonical
 * values — one unit per province item (a batch session's milestone becomes one item per case
 * number, like its evaluation) — and `mapMessage` writes those values under the field names of
 * the profile's `messages.<stream>` section. The native profile sends the queued JSON itself.
 */
import { v5 as uuidv5 } from 'uuid';
import type { Db } from '../store/db.js';
import type { Evaluation } from './evaluation.js';
import {
  mapEvaluation,
  CASE_KEY_NAMESPACE,
  caseKey,
  formatTime,
  MappingError,
  satisfactionCode,
  truncateText,
  type MappingContext,
  type WireItem,
} from './mapping.js';
import { MESSAGE_STREAMS, streamOf, type MessageStream } from './message-kinds.js';
import { storePayload } from './queue.js';
import type { FieldsProfile, Profile } from './profile.js';

/** Where a queue row goes: the province (the forwarder of `province`), or the hand-off target. */
export type Destination = 'province' | 'handoff';

export interface QueuedMessage {
  /** The idempotency key at the destination; stable, so a re-enqueue is ignored and a resend is a duplicate. */
  id: string;
  /** A queue kind (message-kinds.ts). */
  kind: string;
  destination?: Destination;
  /** What the message is about (e.g. the evaluation id of a 差评): messages about one subject are sent in order. */
  subject?: string | null;
  /** Not before this row is out of `pending` (the evaluation a milestone refers to, the previous milestone). */
  after?: string | null;
  payload: { id: string } & Record<string, unknown>;
}

/**
 * Puts a message on the forward queue; call inside the transaction that recorded its cause.
 * Returns false when a message with this id is queued already (a repeat is ignored).
 */
export function enqueueMessage(db: Db, m: QueuedMessage, now: number): boolean {
  if (!streamOf(m.kind)) throw new TypeError(`unknown queue kind "${m.kind}"`);
  if (m.payload.id !== m.id) throw new TypeError('a queued message carries its own id');
  const r = db
    .prepare('INSERT OR IGNORE INTO forward_queue (id, kind, destination, subject, after_id, enqueued_at) VALUES (?, ?, ?, ?, ?, ?)')
    .run(m.id, m.kind, m.destination ?? 'province', m.subject ?? null, m.after ?? null, now);
  if (r.changes !== 1) return false; // a repeat keeps the first one's payload
  storePayload(db, r.lastInsertRowid, JSON.stringify(m.payload));
  return true;
}

/**
 * What a new message about `subject` must wait for: the last message about the same subject
 * to the same destination, else the row `subject` itself (its evaluation), if queued there.
 */
export function previousInChain(db: Db, subject: string, destination: Destination = 'province'): string | null {
  const last = db
    .prepare<[string, string], { id: string }>(
      'SELECT id FROM forward_queue WHERE subject = ? AND destination = ? ORDER BY rowid DESC LIMIT 1',
    )
    .get(subject, destination);
  if (last) return last.id;
  return (
    db.prepare<[string, string], { id: string }>('SELECT id FROM forward_queue WHERE id = ? AND destination = ?').get(subject, destination)
      ?.id ?? null
  );
}

/** A stable id for a message derived from its subject and what it says (UUIDv5, like case keys). */
export function messageId(...parts: (string | number)[]): string {
  return uuidv5(parts.join('/'), CASE_KEY_NAMESPACE);
}

/** One province item before naming: its key and its canonical values. */
export interface MessageUnit {
  key: string;
  values: Record<string, unknown>;
}

export interface BuildContext {
  profile: FieldsProfile;
  context: MappingContext;
}

/**
 * The items a message about one evaluation becomes: one, or — where the profile sends a batch
 * session as one evaluation per case number — one per case, each pointing at that case's
 * evaluation key, with its own key derived the same way.
 */
export function perEvaluation(
  p: FieldsProfile,
  id: string,
  evaluationId: string,
  cases: readonly string[],
): { key: string; evaluationKey: string; projectNo: string | null }[] {
  if (cases.length <= 1 || p.batchSession === 'joined')
    return [{ key: id, evaluationKey: evaluationId, projectNo: cases.length ? cases.join(p.caseSeparator) : null }];
  return cases.map((c) => ({ key: caseKey(id, c), evaluationKey: caseKey(evaluationId, c), projectNo: c }));
}

type Payload = Record<string, unknown>;
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const dept = (ctx: MappingContext, window: unknown) =>
  (typeof window === 'string' ? ctx.deptCodeByWindow?.[window] : undefined) ?? ctx.deptCode;

/** Per stream: the payload's canonical values. Add a stream here and in message-kinds.ts. */
export const MESSAGE_BUILDERS: Record<MessageStream, (m: Payload, b: BuildContext) => MessageUnit[]> = {
  milestone: (m, { profile, context }) => {
    const order = (m.order ?? {}) as Payload;
    return perEvaluation(profile, String(m.id), String(m.evaluationId), strings(m.cases)).map((u) => ({
      key: u.key,
      values: {
        evaluationKey: u.evaluationKey,
        projectNo: u.projectNo,
        areaCode: context.areaCode,
        deptCode: dept(context, m.window),
        hallCode: m.hall,
        windowNo: m.window,
        orderId: order.id,
        sequence: order.version,
        type: m.type,
        result: m.result,
        text: m.text,
        class: m.class,
        handleTime: m.at,
        dueTime: m.dueAt,
        extendAmount: m.extendAmount,
        extendUnit: m.extendUnit,
        late: m.late,
        handler: m.handler,
      },
    }));
  },
  invalidation: (m, { profile, context }) => {
    const order = (m.order ?? {}) as Payload;
    return perEvaluation(profile, String(m.id), String(m.evaluationId), strings(m.cases)).map((u) => ({
      key: u.key,
      values: {
        evaluationKey: u.evaluationKey,
        projectNo: u.projectNo,
        areaCode: context.areaCode,
        deptCode: dept(context, m.window),
        hallCode: m.hall,
        windowNo: m.window,
        orderId: order.id,
        reason: m.reason,
        decidedTime: m.at,
        decidedBy: m.decidedBy,
      },
    }));
  },
  handoff: (m, { profile, context }) => {
    const order = (m.order ?? {}) as Payload;
    const level = typeof m.level === 'number' && m.level >= 1 && m.level <= 5 ? m.level : null;
    const reasons = strings(m.reasons).map((r) => profile.evalDetail.map[r] ?? r);
    const history = Array.isArray(m.history)
      ? (m.history as Payload[])
          .map((h) =>
            [formatTime(Number(h.at), profile.assessTime.pattern, profile.assessTime.utcOffsetMinutes), h.action, h.note]
              .filter((x) => x !== null && x !== undefined && x !== '')
              .join(' '),
          )
          .join('\n')
      : null;
    // One hand-off is one case for the receiver, whatever the batch session: the cases are listed together.
    const cases = strings(m.cases);
    return [
      {
        key: String(m.id),
        values: {
          evaluationKey: m.evaluationId,
          projectNo: cases.length ? cases.join(profile.caseSeparator) : null,
          taskCode: m.itemCode,
          taskName: m.itemName,
          areaCode: context.areaCode,
          deptCode: dept(context, m.window),
          hallCode: m.hall,
          windowNo: m.window,
          proManager: m.staffId,
          satisfaction: level === null ? null : satisfactionCode(profile, level),
          evalDetail: reasons.length ? reasons.join(profile.evalDetail.separator) : null,
          assessTime: m.ratedAt,
          orderId: order.id,
          orderState: order.state,
          class: order.class,
          text: m.text,
          history: history || null,
          handoffTime: m.at,
          handler: m.handler,
          target: m.target,
        },
      },
    ];
  },
  /** The hub's signed daily checkpoint (hub/ledger): `body` is the exact text the hub signed, so it travels as a string. */
  checkpoint: (m, { context }) => {
    let digest: Payload = {};
    try {
      digest = JSON.parse(String(m.body)) as Payload;
    } catch {
      // The signed text still goes as it is; the receiver's check will say it is not a digest.
    }
    return [
      {
        key: String(m.id),
        values: {
          hallCode: m.hall,
          areaCode: context.areaCode,
          day: m.day,
          records: digest.records,
          merkleRoot: digest.merkleRoot,
          digest: m.body,
          signature: m.sig,
          publicKey: m.publicKey,
        },
      },
    ];
  },
};

/** Maps one queued message of `stream` to what the destination receives. */
export function mapMessage(p: Profile, stream: MessageStream, payload: unknown, ctx: MappingContext): WireItem[] {
  const m = payload as Payload | null;
  if (typeof m?.id !== 'string' || !m.id) throw new MappingError(`${stream} message has no id`);
  const section = p.messages[stream];
  if (!section) throw new MappingError(`profile ${p.name} has no mapping for ${stream} messages (messages.${stream})`);
  if (p.format === 'native') return [{ key: m.id, body: m }];
  const spec = MESSAGE_STREAMS[stream];
  const times: readonly string[] = spec.times;
  const texts: readonly string[] = spec.texts;
  const required: readonly string[] = spec.required;
  return MESSAGE_BUILDERS[stream](m, { profile: p, context: ctx }).map((u) => {
    const values: Record<string, unknown> = { ...u.values, key: u.key };
    const body: Record<string, unknown> = {};
    for (const [canon, wire] of Object.entries(section.fields)) {
      let v = values[canon];
      if (v !== null && v !== undefined && times.includes(canon))
        v = typeof v === 'number' && Number.isFinite(v) ? formatTime(v, p.assessTime.pattern, p.assessTime.utcOffsetMinutes) : null;
      if (typeof v === 'string' && texts.includes(canon)) v = truncateText(v, section.maxTextLength);
      const table = section.codes[canon];
      if (table && v !== null && v !== undefined && table[String(v)] !== undefined) v = table[String(v)];
      if (v === null || v === undefined || v === '') {
        if (required.includes(canon)) throw new MappingError(`${stream} ${m.id}: ${canon} is empty`);
        if (p.nulls === 'null') body[wire] = null;
        else if (p.nulls === 'empty-string') body[wire] = '';
      } else body[wire] = v;
    }
    return { key: u.key, body: { ...body, ...section.constants } };
  });
}

/** Maps any queued row by its kind: an evaluation, or a message of another stream (for showing hall IT what is sent). */
export function mapQueued(p: Profile, kind: string, payload: unknown, ctx: MappingContext): WireItem[] {
  const stream = streamOf(kind);
  if (stream === null) throw new MappingError(`unknown queue kind "${kind}"`);
  return stream === 'evaluation' ? mapEvaluation(p, payload as Evaluation, ctx) : mapMessage(p, stream, payload, ctx);
}
