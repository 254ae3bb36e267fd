/**
 * Province profiles: how one province wants its evaluations, as configuration rather than
 * code paths. A profile is a JSON or YAML file validated here; the hub ships `native` (our own
 * Evaluation JSON) and `common` (the field set public integrations agree on: projectNo,
 * satisfaction, evalDetail, assessTime, pf …). A province that differs writes a file that
 * `extends` a shipped profile and overrides what differs — field names, the direction of the
 * satisfaction code (GB/T 39046 numbers it 1 = 非常满意), channel codes, time format.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseYaml } from '../util/yaml.js';
import { z } from 'zod';
import common from './profiles/common.json' with { type: 'json' };
import native from './profiles/native.json' with { type: 'json' };
import { ConfigError } from '../../common/config-error.js';
import { MESSAGE_STREAMS, type MessageStream, type MessageStreamSpec } from './message-kinds.js';

/**
 * Our names for what a province evaluation can carry; a profile maps each to the province's
 * field name (or leaves it out). The first fourteen are the common public format.
 */
export const CANONICAL_FIELDS = [
  'key', // idempotency key: the evaluation id, or one derived per case number
  'projectNo', // 办件编号
  'taskCode', // 事项编码
  'taskName', // 事项名称
  'areaCode', // 行政区划代码
  'deptCode', // 部门编码
  'proManager', // 经办人
  'satisfaction', // 满意度
  'evalDetail', // 评价详情: preset reason codes
  'writingEvaluation', // 文字评价, ≤150 chars
  'assessTime', // 评价时间
  'assessNumber', // 评价次数: 1 first, 2 follow-up
  'pf', // 评价渠道
  'userProp', // 用户属性: 1 person, 2 legal person
  'hallCode', // our hall id
  'windowNo', // our window
  'deviceId', // the evaluator that recorded it (null for defaults)
  'supersedes', // for a correction: the key of the evaluation it replaces
  'follows', // for a follow-up (assessNumber 2 from the citizen page): the key of the evaluation it adds to
  'evaluationKind', // rating | default | correction
  'flags', // anti-abuse and other record flags, joined like evalDetail
  'clockSynced', // whether assessTime came from a synced device clock
] as const;
export type CanonicalField = (typeof CANONICAL_FIELDS)[number];

const FieldName = z.string().min(1).max(64);
const Code = z.union([z.number().int(), z.string().min(1).max(16)]);
const StatusValues = z.array(z.union([z.string(), z.number(), z.boolean()])).min(1);

const RequestSchema = z
  .object({
    /** The batch is `{ [itemsField]: [...items], ...constants }`. */
    itemsField: FieldName.default('records'),
    constants: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const ReplySchema = z
  .object({
    itemsField: FieldName.default('results'),
    keyField: FieldName.default('id'),
    statusField: FieldName.default('status'),
    reasonField: FieldName.default('reason'),
    accepted: StatusValues.default(['accepted']),
    duplicate: StatusValues.default(['duplicate']),
    rejected: StatusValues.default(['rejected']),
    /** Some platforms answer HTTP 200 with `{ code, msg }`: a code outside okCodes means "try again". */
    codeField: FieldName.nullable().default(null),
    okCodes: StatusValues.default([0, 200, '0', '200']),
  })
  .strict();

/** A reply format that differs for one message stream: only what differs from the profile's `reply`. */
const ReplyOverrideSchema = z
  .object({
    itemsField: FieldName,
    keyField: FieldName,
    statusField: FieldName,
    reasonField: FieldName,
    accepted: StatusValues,
    duplicate: StatusValues,
    rejected: StatusValues,
    codeField: FieldName.nullable(),
    okCodes: StatusValues,
  })
  .partial()
  .strict();

/**
 * How one message stream other than evaluations (work-order milestones, invalidations,
 * hand-offs — message-kinds.ts) is sent: its batch envelope, its reply format where it differs,
 * and — for `fields` profiles — canonical name → the province's field name, with code tables.
 */
const MessageSectionSchema = z
  .object({
    request: RequestSchema.prefault({}),
    reply: ReplyOverrideSchema.default({}),
    /** canonical → wire name (see MESSAGE_STREAMS for each stream's canonical fields); unused by native. */
    fields: z.record(z.string(), FieldName).default({}),
    /** Per canonical field, our value → the province's code, e.g. `type: { verified: "1" }`. Values without an entry go as they are. */
    codes: z.record(z.string(), z.record(z.string(), Code)).default({}),
    constants: z.record(z.string(), z.unknown()).default({}),
    /** Free-text fields (rectification result, reasons) are cut to this many characters. */
    maxTextLength: z.number().int().positive().max(10_000).default(500),
  })
  .strict();
export type MessageSection = z.infer<typeof MessageSectionSchema>;

/** Checks `messages`: known streams, known canonical fields, a key field, no name used twice. */
function checkMessages(p: { format: string; messages: Record<string, MessageSection> }, ctx: z.RefinementCtx): void {
  for (const [stream, section] of Object.entries(p.messages)) {
    const spec = (MESSAGE_STREAMS as Record<string, MessageStreamSpec>)[stream];
    if (!spec) {
      ctx.addIssue({
        code: 'custom',
        path: ['messages', stream],
        message: `unknown message stream "${stream}" (known: ${Object.keys(MESSAGE_STREAMS).join(', ')})`,
      });
      continue;
    }
    if (p.format !== 'fields') continue;
    if (!section.fields.key)
      ctx.addIssue({
        code: 'custom',
        path: ['messages', stream, 'fields', 'key'],
        message: `messages.${stream}.fields.key must name the field that carries the idempotency key`,
      });
    const seen = new Map<string, string>();
    for (const [canon, wire] of Object.entries(section.fields)) {
      if (!spec.fields.includes(canon))
        ctx.addIssue({
          code: 'custom',
          path: ['messages', stream, 'fields', canon],
          message: `"${canon}" is not a canonical ${stream} field (${spec.fields.join(' ')})`,
        });
      if (seen.has(wire))
        ctx.addIssue({
          code: 'custom',
          path: ['messages', stream, 'fields', canon],
          message: `field name "${wire}" is used twice (also by ${seen.get(wire)})`,
        });
      seen.set(wire, canon);
    }
  }
}

const Common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'name must be 1–64 lowercase letters, digits, ".", "_" or "-"'),
  description: z.string().max(500).default(''),
  request: RequestSchema.prefault({}),
  reply: ReplySchema.prefault({}),
  /** Upper bound on evaluations per request, whatever the hub's batchSize says. */
  maxBatch: z.number().int().positive().max(10_000).nullable().default(null),
  /** Message streams beyond evaluations (message-kinds.ts): stream → how it is sent. A stream without a section cannot be sent with this profile. */
  messages: z.record(z.string(), MessageSectionSchema).default({}),
};

export const NativeProfileSchema = z
  .object({ ...Common, format: z.literal('native') })
  .strict()
  .superRefine((p, ctx) => checkMessages(p, ctx));

export const FieldsProfileSchema = z
  .object({
    ...Common,
    format: z.literal('fields'),
    /** canonical name → the province's field name; a canonical field not listed is not sent. */
    fields: z
      .partialRecord(z.enum(CANONICAL_FIELDS), FieldName)
      .refine((f) => !!f.key, 'fields.key must name the field that carries the idempotency key'),
    /** Fixed fields on every evaluation (e.g. a source system code). */
    constants: z.record(z.string(), z.unknown()).default({}),
    /** How code fields (satisfaction, assessNumber, pf, userProp) are written. */
    codesAs: z.enum(['number', 'string']).default('number'),
    satisfaction: z
      .object({
        /** ascending: 1 = 非常不满意 … 5 = 非常满意 (the common format); descending: 1 = 非常满意 (GB/T 39046 A.8). */
        order: z.enum(['ascending', 'descending']).default('ascending'),
        /** Explicit level → code table; wins over `order` when given. */
        map: z.partialRecord(z.enum(['1', '2', '3', '4', '5']), Code).optional(),
      })
      .strict()
      .prefault({}),
    channel: z
      .object({
        /** pf of a rating pressed on a window evaluator: 4 hall tablet, 5 other hall terminal. */
        rating: Code.default(5),
        /** pf of a correction (a real rating replacing a default); default: the rating code. */
        correction: Code.nullable().default(null),
        /** pf of the hub's 7-day default where the province has a code for it (6 or 7 in some provinces); null: the rating code. */
        default: Code.nullable().default(null),
        /** pf of what a citizen gave on the hub's page from a scanned QR (a late rating, added reasons/text): 3 in the common format. */
        qr: Code.default(3),
      })
      .strict()
      .prefault({}),
    assessNumber: z
      .object({ first: Code.default(1), followUp: Code.default(2) })
      .strict()
      .prefault({}),
    userProp: Code.default(1),
    evalDetail: z
      .object({
        separator: z.string().max(4).default(','),
        /** Our reason code → the province's, where its catalogue differs. */
        map: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .prefault({}),
    writingEvaluation: z
      .object({ maxLength: z.number().int().positive().max(10_000).default(150) })
      .strict()
      .prefault({}),
    /**
     * Record flags (no-session, too-soon, repeated, walk-up, no-reason, and flags the hub adds),
     * sent in the field `fields.flags` names — a province without such a field simply does not
     * map it. `map` renames a flag to the province's code, or drops it with null.
     */
    flags: z
      .object({
        separator: z.string().max(4).default(','),
        map: z.record(z.string(), z.string().min(1).max(32).nullable()).default({}),
      })
      .strict()
      .prefault({}),
    assessTime: z
      .object({
        /** Tokens yyyy MM dd HH mm ss SSS; anything else is copied. */
        pattern: z.string().min(1).max(64).default('yyyy-MM-dd HH:mm:ss'),
        /** China has one time zone and no daylight saving: UTC+8. */
        utcOffsetMinutes: z.number().int().min(-720).max(840).default(480),
      })
      .strict()
      .prefault({}),
    /**
     * A session with several case numbers (one rating for all, Ankang art. 11):
     * per-case — one province evaluation per case number, each with its own key derived from
     * the evaluation id and the case number; joined — one evaluation, projectNo lists the cases.
     */
    batchSession: z.enum(['per-case', 'joined']).default('per-case'),
    caseSeparator: z.string().max(4).default(','),
    /** A walk-up rating has no case number: leave projectNo out (null) or send the key in it. */
    projectNoWithoutCase: z.enum(['null', 'key']).default('null'),
    /** What an empty value becomes: left out, JSON null, or "". */
    nulls: z.enum(['omit', 'null', 'empty-string']).default('omit'),
  })
  .strict()
  .superRefine((p, ctx) => {
    checkMessages(p, ctx);
    const seen = new Map<string, string>();
    for (const [canon, wire] of Object.entries(p.fields)) {
      if (seen.has(wire!))
        ctx.addIssue({
          code: 'custom',
          path: ['fields', canon],
          message: `field name "${wire}" is used twice (also by ${seen.get(wire!)})`,
        });
      seen.set(wire!, canon);
    }
    for (const c of Object.keys(p.constants)) {
      if (seen.has(c))
        ctx.addIssue({
          code: 'custom',
          path: ['constants', c],
          message: `constant "${c}" would overwrite the mapped field ${seen.get(c)}`,
        });
    }
    if (p.satisfaction.map) {
      for (const l of ['1', '2', '3', '4', '5'] as const) {
        if (p.satisfaction.map[l] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['satisfaction', 'map', l],
            message: `satisfaction.map must give a code for every level 1–5 (missing ${l})`,
          });
      }
    }
  });

export const ProfileSchema = z.discriminatedUnion('format', [NativeProfileSchema, FieldsProfileSchema]);
export type Profile = z.infer<typeof ProfileSchema>;
export type FieldsProfile = z.infer<typeof FieldsProfileSchema>;
export type NativeProfile = z.infer<typeof NativeProfileSchema>;

/** Profiles shipped with the hub, by name. Their files are in profiles/. */
export const SHIPPED_PROFILES: Record<string, unknown> = { native, common };

export class ProfileError extends ConfigError {
  override readonly name = 'ProfileError';
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (arrays included) is replaced. */
function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Json, v) : v;
  return out;
}

/** Resolves `extends` (a shipped profile's name), then validates. `where` names the source in errors. */
export function parseProfile(raw: unknown, where: string, depth = 0): Profile {
  if (!isObject(raw)) throw new ProfileError(`province profile ${where} must be an object`);
  let input = raw;
  if (typeof raw.extends === 'string') {
    if (depth > 4) throw new ProfileError(`province profile ${where}: "extends" goes too deep`);
    const base = SHIPPED_PROFILES[raw.extends];
    if (!base)
      throw new ProfileError(
        `province profile ${where} extends "${raw.extends}", which is not a shipped profile (${Object.keys(SHIPPED_PROFILES).join(', ')})`,
      );
    const { extends: _, ...rest } = raw;
    input = deepMerge(base as Json, rest);
    // In a profile that extends another, `field: null` takes a field out of what is sent.
    if (isObject(input.fields)) input.fields = Object.fromEntries(Object.entries(input.fields).filter(([, v]) => v !== null));
    if (isObject(input.messages)) {
      input.messages = Object.fromEntries(
        Object.entries(input.messages).map(([k, section]) => [
          k,
          isObject(section) && isObject(section.fields)
            ? { ...section, fields: Object.fromEntries(Object.entries(section.fields).filter(([, v]) => v !== null)) }
            : section,
        ]),
      );
    }
  }
  const parsed = ProfileSchema.safeParse(input);
  if (!parsed.success) throw new ProfileError(`province profile ${where} is invalid:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** A shipped profile by name, or a .json/.yaml/.yml file. */
export function loadProfile(nameOrFile: string): Profile {
  const shipped = SHIPPED_PROFILES[nameOrFile];
  if (shipped) return parseProfile(shipped, `"${nameOrFile}" (shipped)`);
  if (!/\.(json|ya?ml)$/i.test(nameOrFile)) {
    throw new ProfileError(
      `province profile "${nameOrFile}" is neither a shipped profile (${Object.keys(SHIPPED_PROFILES).join(', ')}) nor a .json/.yaml file`,
    );
  }
  const file = resolve(nameOrFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProfileError(`cannot read province profile ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ProfileError(`province profile ${file} is not valid ${extname(file).slice(1).toUpperCase()}: ${(e as Error).message}`);
  }
  return parseProfile(raw, file);
}

/** The field on each wire item that carries the idempotency key. */
export function keyField(p: Profile): string {
  return p.format === 'native' ? 'id' : p.fields.key!;
}

/**
 * The profile as one message stream sees it: that stream's batch envelope and reply format
 * (falling back to the profile's own reply). Evaluations see the profile itself.
 */
export function streamView(p: Profile, stream: 'evaluation' | MessageStream): Profile {
  if (stream === 'evaluation') return p;
  const section = p.messages[stream];
  if (!section) return p;
  return { ...p, request: section.request, reply: { ...p.reply, ...section.reply } };
}

/** The field that carries the idempotency key of a message stream's items. */
export function streamKeyField(p: Profile, stream: 'evaluation' | MessageStream): string {
  if (stream === 'evaluation') return keyField(p);
  return p.format === 'native' ? 'id' : (p.messages[stream]?.fields.key ?? 'id');
}
