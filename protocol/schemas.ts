/**
 * Every message on the wire, as zod schemas. The TypeScript types are derived from these, and
 * `npm run schema` writes them out as JSON Schema for integrators; nothing re-declares them.
 */
import { z } from 'zod';
import { displayText } from './text.js';
import { ID_PATTERN } from './topics.js';

export const PROTOCOL_VERSION = 1 as const;

const Id = z.string().regex(ID_PATTERN, 'must be 1–64 letters, digits, "_" or "-"');
const Text = (max: number) => z.string().min(1).max(max);
const Hex256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const EpochMs = z.number().int().nonnegative();

export const LevelSchema = z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(5)]);
export const ReasonCodeSchema = z.string().regex(/^[1-5]\d{2}$/, 'must be a three-digit preset reason code');

/**
 * What a record says about how it came to be. Flags never hide a rating: they travel with it so
 * the hub and the province can judge (HappyOrNot keeps a `misuse` flag the same way).
 */
export const RecordFlagSchema = z.enum([
  'too-soon', // pressed sooner after the prompt than a citizen could read it: possible staff press
  'no-session', // pressed while no service session was open (session mode)
  'no-reason', // a 差评 whose reason screen was skipped or timed out
  'walk-up', // the hall runs the device without sessions
  'repeated', // more presses followed within the repeat interval (they were ignored)
]);
export type RecordFlag = z.infer<typeof RecordFlagSchema>;

/** The service session a rating answers: one rating applies to all its cases (Ankang art. 11). */
export const SessionRefSchema = z
  .object({
    id: Id,
    cases: z.array(Text(64)).min(1).max(50), // 办件编号
    itemCode: Text(64).nullable(), // 事项编码
    itemName: Text(200).nullable(), // 事项名称
  })
  .strict();
export type SessionRef = z.infer<typeof SessionRefSchema>;

const recordFields = {
  v: z.literal(PROTOCOL_VERSION),
  id: z.uuid({ version: 'v7' }),
  hall: Id,
  device: Id,
  window: Text(32),
  staffId: Text(64).nullable(),
  seq: z.number().int().positive(),
  /** 'rating': a citizen pressed; 'not-rated': a prompt timed out, so the hub may apply the default. */
  kind: z.enum(['rating', 'not-rated']),
  level: LevelSchema.nullable(),
  reasons: z.array(ReasonCodeSchema).max(16),
  catalogue: Text(64),
  session: SessionRefSchema.nullable(),
  /** Device wall-clock time; trust it only when clockSynced (a Pi has no RTC). */
  at: EpochMs,
  clockSynced: z.boolean(),
  /** Identifies this run of the agent; mono (ms) orders events within it. */
  bootId: z.uuid(),
  mono: z.number().int().nonnegative(),
  flags: z.array(RecordFlagSchema).max(8),
  /** Hash of the previous record of this device (all zeros for the first). */
  prev: Hex256,
};

/** The record before it is signed. */
export const UnsignedRecordSchema = z.object(recordFields).strict();
export type UnsignedRecord = z.infer<typeof UnsignedRecordSchema>;

export const RatingRecordSchema = z
  .object({ ...recordFields, sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be a base64 Ed25519 signature') })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.kind === 'rating') !== (r.level !== null)) {
      ctx.addIssue({ code: 'custom', path: ['level'], message: 'a rating has a level; a not-rated record has none' });
    }
    for (const code of r.reasons) {
      if (r.level === null || Number(code[0]) !== r.level) {
        ctx.addIssue({ code: 'custom', path: ['reasons'], message: `reason ${code} does not belong to level ${r.level}` });
      }
    }
  });
export type RatingRecord = z.infer<typeof RatingRecordSchema>;

/** hub → device: the records the hub has durably stored (sent after its transaction committed). */
export const AckSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    acks: z.array(z.object({ seq: z.number().int().positive(), id: z.uuid() }).strict()).max(1000),
    /** Records the hub will never store (bad signature, fork): the device keeps them and reports a fault. */
    rejects: z
      .array(z.object({ seq: z.number().int().positive(), id: z.uuid(), reason: Text(64) }).strict())
      .max(1000)
      .default([]),
    /**
     * Sent when the device subscribes: the hub holds this device's records (current key) up to
     * `seq`. A device that has been told more was stored — the hub was restored from a backup —
     * sends again what it still keeps after it; the hub deduplicates by record id.
     */
    head: z.object({ seq: z.number().int().nonnegative() }).strict().optional(),
  })
  .strict();
export type Ack = z.infer<typeof AckSchema>;

const ReleaseVersion = z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'must be a release version such as 1.2.3');

/**
 * Where a device's fleet update stands. `installed`: unpacked and switched to, on probation;
 * `active`: the new release confirmed itself healthy; `failed`: refused or could not be done
 * (the device keeps its version); `rolled-back`: the new release did not prove itself in time.
 */
export const UpdateStateSchema = z.enum(['downloading', 'verifying', 'installed', 'active', 'failed', 'rolled-back']);
export type UpdateState = z.infer<typeof UpdateStateSchema>;
export const UpdateReportSchema = z.object({ state: UpdateStateSchema, version: ReleaseVersion, reason: Text(300).optional() }).strict();
export type UpdateReport = z.infer<typeof UpdateReportSchema>;

/**
 * The release a device should run (in its config). The device fetches `path` from the hub's
 * HTTP(S) address with its own credentials; `sha256`/`size` only guard the transfer — what the
 * device trusts is the signature by the release key pinned at install, never the hub.
 */
export const ReleaseTargetSchema = z
  .object({
    version: ReleaseVersion,
    sha256: Hex256,
    size: z
      .number()
      .int()
      .positive()
      .max(1024 * 1024 * 1024),
    path: z
      .string()
      .regex(/^\/api\/releases\/[0-9A-Za-z.-]+\/bundle$/, 'must be the hub path of a release bundle')
      .max(200),
  })
  .strict();
export type ReleaseTarget = z.infer<typeof ReleaseTargetSchema>;

/** device → hub, retained; the last will publishes state 'offline'. */
export const StatusSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    state: z.enum(['online', 'offline']),
    firmware: Text(64),
    bootId: z.uuid(),
    uptimeS: z.number().nonnegative(),
    clockSynced: z.boolean(),
    at: EpochMs,
    outbox: z
      .object({
        depth: z.number().int().nonnegative(),
        oldestAgeS: z.number().nonnegative().nullable(),
        capacity: z.number().int().positive(),
        lastSeq: z.number().int().nonnegative(),
      })
      .strict(),
    counters: z.record(z.string().max(64), z.number().int().nonnegative()),
    faults: z.array(Text(64)).max(32),
    mode: z.enum(['idle', 'prompt', 'reasons', 'thanks', 'paused', 'out-of-service']).optional(),
    /** The last fleet update this device worked on (absent: none, or a release before updates). */
    update: UpdateReportSchema.optional(),
  })
  .strict();
export type Status = z.infer<typeof StatusSchema>;

// Names, numbers and prompts are shown on the device, the wall and in CSVs: displayText refuses
// control and bidi-control characters (a window "21" must not display as "12").
export const StaffSchema = z
  .object({ id: displayText(64), name: displayText(64), number: displayText(32).nullable(), photo: Text(500).nullable() })
  .strict();
export type Staff = z.infer<typeof StaffSchema>;

export const CatalogueSchema = z
  .object({
    version: Text(64),
    reasons: z.array(z.object({ code: ReasonCodeSchema, level: LevelSchema, text: displayText(100) }).strict()).max(200),
  })
  .strict();

/** hub → device, retained and versioned: everything a device needs to rate with the hub unreachable. */
export const DeviceConfigSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    version: z.number().int().nonnegative(),
    hall: Id,
    device: Id,
    window: displayText(32),
    windowName: displayText(64).nullable(),
    staff: StaffSchema.nullable(),
    paused: z.boolean(),
    /** 'session': rate only what the queue system opened; 'walk-up': the prompt is always open. */
    mode: z.enum(['session', 'walk-up']),
    /** Button i (0-based, left to right) gives level buttons[i]. Five or three buttons. */
    buttons: z.array(LevelSchema).min(2).max(5),
    catalogue: CatalogueSchema,
    timeouts: z
      .object({
        promptS: z.number().positive().max(3600),
        reasonS: z.number().positive().max(600),
        thanksS: z.number().positive().max(60),
        repeatIntervalS: z.number().nonnegative().max(600),
        tooSoonS: z.number().nonnegative().max(60),
      })
      .strict(),
    prompts: z
      .object({
        ask: displayText(100),
        thanks: displayText(100),
        reasons: displayText(100),
        paused: displayText(100),
        /** Heading of the reasons screen after a good level (where reasonsAfter shows one). */
        goodReasons: displayText(100).optional(),
        /** Said once when a 差评's reasons are skipped and reasonRequired is on. */
        reasonNeeded: displayText(100).optional(),
      })
      .strict(),
    /** Shown as a QR code and a link: only http(s), never javascript:, data: or the like. */
    feedbackUrl: z
      .url({ protocol: /^https?$/, error: 'feedbackUrl must be an http:// or https:// URL' })
      .max(500)
      .nullable(),
    /** Spoken prompts at this window (absent: the device's defaults). */
    voice: z
      .object({ volume: z.number().int().min(0).max(100), quiet: z.boolean(), speakOptions: z.boolean() })
      .strict()
      .optional(),
    /**
     * Levels after which the preset content of that level is offered (Hubei art. 13: the content
     * shown depends on the level). Absent: the 差评 levels 1–2 only.
     */
    reasonsAfter: z.array(LevelSchema).max(5).optional(),
    /** A 差评 needs a reason or text (Ankang art. 8): a skip is asked about once more. */
    reasonRequired: z.boolean().optional(),
    /**
     * This device's receipt key (base64url, 32 bytes), derived by the hub from its hall secret and
     * the device id: the device signs its receipt and rate-later QR links with it, so the hub's
     * citizen page can tell a real receipt from a guessed one (docs/citizen-channels.md). Sent only
     * in the device's own retained config; absent when the hub serves no citizen page.
     */
    receiptKey: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'receiptKey must be 32 bytes in base64url')
      .optional(),
    /** The release hall IT rolled out to this device (absent: keep what it runs). */
    release: ReleaseTargetSchema.optional(),
  })
  .strict();
export type DeviceConfig = z.infer<typeof DeviceConfigSchema>;

/** hub → device: the queue/business system finished a case (open) or withdrew it (cancel). */
export const SessionMessageSchema = z.discriminatedUnion('op', [
  z
    .object({
      v: z.literal(PROTOCOL_VERSION),
      op: z.literal('open'),
      session: SessionRefSchema,
      staffId: Text(64).nullable(),
      openedAt: EpochMs,
    })
    .strict(),
  z.object({ v: z.literal(PROTOCOL_VERSION), op: z.literal('cancel'), sessionId: Id }).strict(),
]);
export type SessionMessage = z.infer<typeof SessionMessageSchema>;

export const MESSAGE_SCHEMAS = {
  rating: RatingRecordSchema,
  ack: AckSchema,
  status: StatusSchema,
  config: DeviceConfigSchema,
  session: SessionMessageSchema,
} as const;

/** Payload limits per topic kind; anything larger is refused before it is parsed. */
export const MAX_BYTES = { rating: 8 * 1024, ack: 64 * 1024, status: 8 * 1024, config: 64 * 1024, session: 8 * 1024 } as const;
