/**
 * The kinds of message the hub sends out through its durable forward queue, beyond evaluations.
 * Data only (no imports), so the profile schema can check a profile's field mappings against it.
 *
 * A queue row has a `kind` (what it is) and a `destination` (where it goes: the province, or
 * the hand-off target). Kinds are grouped in *streams*: each stream has its own batch envelope,
 * reply format and (optionally) its own URL or MQTT topic, and one mapping section in a profile.
 * The three evaluation kinds (rating, default, correction) form the `evaluation` stream, mapped
 * by mapEvaluation with the profile's top-level fields; every other stream is mapped generically
 * from the canonical values its builder gives (messages.ts) through `messages.<stream>` in the
 * profile. Adding a kind: one entry here, a builder in MESSAGE_BUILDERS (messages.ts), and a
 * `messages.<stream>` section in the shipped profiles.
 */

export interface MessageStreamSpec {
  /** Queue kinds that belong to this stream. */
  kinds: readonly string[];
  /** Canonical fields a profile may map for this stream (`key` is the idempotency key). */
  fields: readonly string[];
  /** Canonical fields that must not be empty once mapped (the item is refused by the hub otherwise). */
  required: readonly string[];
  /** Canonical fields holding a time (epoch ms), written with the profile's assessTime pattern. */
  times: readonly string[];
  /** Canonical fields holding free text, cut to the section's maxTextLength. */
  texts: readonly string[];
  /** Each message names an evaluation the receiver must already hold (its canonical `evaluationKey`). */
  evaluationBound: boolean;
}

/** The evaluation stream's kinds (mapped by mapEvaluation, not by a MESSAGE_STREAMS entry). */
export const EVALUATION_KINDS = ['rating', 'default', 'correction', 'follow-up'] as const;

export const MESSAGE_STREAMS = {
  /** A step in the handling of a 差评 (work order): verified, extended, rectified, appeal decided, revisited, closed, handed off. */
  milestone: {
    kinds: ['milestone'],
    fields: [
      'key', // this milestone's idempotency key
      'evaluationKey', // the key the evaluation it belongs to was sent with
      'projectNo', // 办件编号
      'areaCode',
      'deptCode',
      'hallCode',
      'windowNo',
      'orderId', // the hall's work-order number
      'sequence', // the order's trail version: milestones of one order in order
      'type', // verified | extended | rectified | appeal-decided | revisited | closed | handed-off
      'result', // verified: valid | invalid; appeal-decided: upheld | invalid; revisited: satisfied | unsatisfied; closed: resolved | unresolved | invalid | handed-off
      'text', // the hall's words: rectification result, revisit record, grounds
      'class', // simple | general | consultation
      'handleTime', // when the step was taken
      'dueTime', // the limit the order now runs to
      'extendAmount', // extended: by how much
      'extendUnit', // days | workingDays
      'late', // the step was taken after its limit (超期办理)
      'handler', // the hall account that took the step
    ],
    required: ['key', 'evaluationKey', 'type', 'handleTime'],
    times: ['handleTime', 'dueTime'],
    texts: ['text'],
    evaluationBound: true,
  },
  /** An evaluation found invalid on appeal (无效差评): the province stops counting it. */
  invalidation: {
    kinds: ['invalidation'],
    fields: [
      'key',
      'evaluationKey',
      'projectNo',
      'areaCode',
      'deptCode',
      'hallCode',
      'windowNo',
      'orderId',
      'reason',
      'decidedTime',
      'decidedBy',
    ],
    required: ['key', 'evaluationKey', 'decidedTime'],
    times: ['decidedTime'],
    texts: ['reason'],
    evaluationBound: true,
  },
  /** A 差评 the hall cannot resolve, handed on to the hand-off destination (12345, a department). */
  handoff: {
    kinds: ['handoff'],
    fields: [
      'key',
      'evaluationKey',
      'projectNo',
      'taskCode',
      'taskName',
      'areaCode',
      'deptCode',
      'hallCode',
      'windowNo',
      'proManager',
      'satisfaction',
      'evalDetail',
      'assessTime',
      'orderId',
      'orderState', // where the hall's handling stood
      'class',
      'text', // why the hall hands it on
      'history', // the hall's handling so far, one line per step
      'handoffTime',
      'handler',
      'target', // the destination's name (e.g. 12345)
    ],
    required: ['key', 'evaluationKey', 'handoffTime'],
    times: ['assessTime', 'handoffTime'],
    texts: ['text', 'history'],
    // Whoever takes it over (12345) need not hold the evaluation.
    evaluationBound: false,
  },
  /**
   * The hub's signed daily checkpoint (hub/ledger): the day's digest as the hub signed it, the
   * signature and the hub's public key, so the province holds proof of what the hall stored.
   */
  checkpoint: {
    kinds: ['checkpoint'],
    fields: ['key', 'hallCode', 'areaCode', 'day', 'records', 'merkleRoot', 'digest', 'signature', 'publicKey'],
    required: ['key', 'day', 'digest', 'signature', 'publicKey'],
    times: [],
    texts: [],
    evaluationBound: false,
  },
} as const satisfies Record<string, MessageStreamSpec>;

export type MessageStream = keyof typeof MESSAGE_STREAMS;
export type Stream = 'evaluation' | MessageStream;

/** The stream a queue kind belongs to; null for a kind the hub does not know. */
export function streamOf(kind: string): Stream | null {
  if ((EVALUATION_KINDS as readonly string[]).includes(kind)) return 'evaluation';
  for (const [s, spec] of Object.entries(MESSAGE_STREAMS) as [MessageStream, MessageStreamSpec][]) if (spec.kinds.includes(kind)) return s;
  return null;
}
