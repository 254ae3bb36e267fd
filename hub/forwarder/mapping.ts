/**
 * From our Evaluation to the province's wire items, and from the province's reply back to a
 * status per key — pure functions of a profile, so each profile can be checked field by
 * field against fixed samples without a network.
 */
import { v5 as uuidv5 } from 'uuid';
import type { Evaluation } from './evaluation.js';
import { keyField, type CanonicalField, type FieldsProfile, type Profile } from './profile.js';

/** Where areaCode and deptCode come from: the hub's province configuration, not the records. */
export interface MappingContext {
  areaCode: string | null;
  deptCode: string | null;
  /** A window served by another department than the hall's default. */
  deptCodeByWindow?: Record<string, string>;
}

/** One evaluation as the province receives it, with the key it is deduplicated by. */
export interface WireItem {
  key: string;
  body: Record<string, unknown>;
  /** `body` already serialised (the native profile sends the queued JSON as it is). */
  json?: string;
  /**
   * `body` already serialised as UTF-8 bytes: the native profile's queued JSON read as a BLOB, so
   * a push neither decodes it into a JS string nor encodes it back (buildRequestBytes).
   */
  bytes?: Buffer;
}

export class MappingError extends Error {
  override readonly name = 'MappingError';
}

/** Namespace for keys derived per case number (UUIDv5): stable across retries and restarts. */
export const CASE_KEY_NAMESPACE = 'b8f3f0d0-5c1e-4f7a-9d0e-6a1c2b3d4e5f';

/** The idempotency key of the province evaluation for one case number of a batch session. */
export function caseKey(evaluationId: string, caseNo: string): string {
  return uuidv5(`${evaluationId}/${caseNo}`, CASE_KEY_NAMESPACE);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Formats epoch ms with yyyy MM dd HH mm ss SSS at a fixed UTC offset (China: +480, no DST). */
export function formatTime(ms: number, pattern: string, utcOffsetMinutes: number): string {
  const d = new Date(ms + utcOffsetMinutes * 60_000);
  const parts: Record<string, string> = {
    yyyy: pad(d.getUTCFullYear(), 4),
    MM: pad(d.getUTCMonth() + 1),
    dd: pad(d.getUTCDate()),
    HH: pad(d.getUTCHours()),
    mm: pad(d.getUTCMinutes()),
    ss: pad(d.getUTCSeconds()),
    SSS: pad(d.getUTCMilliseconds(), 3),
  };
  return pattern.replace(/yyyy|SSS|MM|dd|HH|mm|ss/g, (t) => parts[t]!);
}

/** A regular expression that matches what formatTime writes for `pattern`. */
export function timePatternRegex(pattern: string): RegExp {
  const widths: Record<string, number> = { yyyy: 4, SSS: 3, MM: 2, dd: 2, HH: 2, mm: 2, ss: 2 };
  const src = pattern
    .split(/(yyyy|SSS|MM|dd|HH|mm|ss)/)
    .map((part) => (widths[part] ? `\\d{${widths[part]}}` : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${src}$`);
}

/** Cuts to `max` characters counted as code points, so a Chinese text is never split mid-character. */
export function truncateText(s: string, max: number): string {
  const cps = [...s];
  return cps.length <= max ? s : cps.slice(0, max).join('');
}

function code(p: FieldsProfile, v: number | string): number | string {
  if (p.codesAs === 'string') return String(v);
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

export function satisfactionCode(p: FieldsProfile, level: number): number | string {
  const explicit = p.satisfaction.map?.[String(level) as '1'];
  if (explicit !== undefined) return code(p, explicit);
  return code(p, p.satisfaction.order === 'ascending' ? level : 6 - level);
}

/** The flags as the province names them (a flag mapped to null is not sent); null when none are left. */
export function flagCodes(p: FieldsProfile, flags: readonly string[]): string | null {
  const codes = flags.map((f) => (f in p.flags.map ? p.flags.map[f]! : f)).filter((c): c is string => c !== null);
  return codes.length ? codes.join(p.flags.separator) : null;
}

/** Maps one evaluation to what the province receives: one item, or one per case number. */
export function mapEvaluation(p: Profile, e: Evaluation, ctx: MappingContext): WireItem[] {
  if (typeof e?.id !== 'string' || !e.id) throw new MappingError('evaluation has no id');
  if (p.format === 'native') return [{ key: e.id, body: e as unknown as Record<string, unknown> }];
  if (![1, 2, 3, 4, 5].includes(e.level)) throw new MappingError(`evaluation ${e.id} has no valid level (${String(e.level)})`);

  const cases = e.session?.cases ?? [];
  const units =
    cases.length <= 1 || p.batchSession === 'joined'
      ? [{ key: e.id, projectNo: cases.length ? cases.join(p.caseSeparator) : null, supersedes: e.supersedes, follows: e.follows ?? null }]
      : cases.map((c) => ({
          key: caseKey(e.id, c),
          projectNo: c,
          supersedes: e.supersedes ? caseKey(e.supersedes, c) : null,
          follows: e.follows ? caseKey(e.follows, c) : null,
        }));

  const channel =
    e.channel === 'qr'
      ? p.channel.qr
      : e.kind === 'default'
        ? (p.channel.default ?? p.channel.rating)
        : e.kind === 'correction'
          ? (p.channel.correction ?? p.channel.rating)
          : p.channel.rating;
  const reasons = e.reasons.map((r) => p.evalDetail.map[r] ?? r);
  const dept = ctx.deptCodeByWindow?.[e.window] ?? ctx.deptCode;
  const shared: Partial<Record<CanonicalField, unknown>> = {
    taskCode: e.session?.itemCode ?? null,
    taskName: e.session?.itemName ?? null,
    areaCode: ctx.areaCode,
    deptCode: dept,
    proManager: e.staffId,
    satisfaction: satisfactionCode(p, e.level),
    evalDetail: reasons.length ? reasons.join(p.evalDetail.separator) : null,
    writingEvaluation: e.text ? truncateText(e.text, p.writingEvaluation.maxLength) : null,
    assessTime: formatTime(e.assessedAt, p.assessTime.pattern, p.assessTime.utcOffsetMinutes),
    assessNumber: code(p, e.assessNumber === 2 ? p.assessNumber.followUp : p.assessNumber.first),
    pf: code(p, channel),
    userProp: code(p, p.userProp),
    hallCode: e.hall,
    windowNo: e.window,
    deviceId: e.device,
    evaluationKind: e.kind,
    flags: flagCodes(p, e.flags),
    clockSynced: e.clockSynced,
  };

  return units.map((u) => {
    const values: Partial<Record<CanonicalField, unknown>> = {
      ...shared,
      key: u.key,
      projectNo: u.projectNo ?? (p.projectNoWithoutCase === 'key' ? u.key : null),
      supersedes: u.supersedes,
      follows: u.follows,
    };
    const body: Record<string, unknown> = {};
    for (const [canon, wire] of Object.entries(p.fields) as [CanonicalField, string][]) {
      const v = values[canon];
      if (v === null || v === undefined || v === '') {
        if (canon === 'key' || canon === 'satisfaction' || canon === 'assessTime')
          throw new MappingError(`evaluation ${e.id}: ${canon} is empty`);
        if (p.nulls === 'null') body[wire] = null;
        else if (p.nulls === 'empty-string') body[wire] = '';
      } else body[wire] = v;
    }
    return { key: u.key, body: { ...body, ...p.constants } };
  });
}

/** Canonical fields a profile sends that come from the hub's configuration. */
export function requiredContext(p: Profile): ('areaCode' | 'deptCode')[] {
  if (p.format === 'native') return [];
  return (['areaCode', 'deptCode'] as const).filter((f) => p.fields[f]);
}

function requestHead(p: Profile): string {
  const constants = JSON.stringify(p.request.constants);
  return `${constants === '{}' ? '{' : `${constants.slice(0, -1)},`}${JSON.stringify(p.request.itemsField)}:[`;
}

/** The request body for a batch of items: `{ ...constants, [itemsField]: [bodies] }`. */
export function buildRequestBody(p: Profile, items: WireItem[]): string {
  return `${requestHead(p)}${items.map((i) => i.json ?? i.bytes?.toString('utf8') ?? JSON.stringify(i.body)).join(',')}]}`;
}

const COMMA = Buffer.from(',');
const TAIL = Buffer.from(']}');

/**
 * The same body as buildRequestBody, as bytes, when every item is already serialised: joined
 * without decoding or re-encoding the items (a batch of 1,000 native evaluations is ~1.5 MB).
 */
export function buildRequestBytes(p: Profile, items: readonly (WireItem & { bytes: Buffer })[]): Buffer {
  const parts: Buffer[] = [Buffer.from(requestHead(p))];
  items.forEach((i, n) => {
    if (n > 0) parts.push(COMMA);
    parts.push(i.bytes);
  });
  parts.push(TAIL);
  return Buffer.concat(parts);
}

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected';
export interface ItemResult {
  status: ItemStatus;
  reason?: string;
}

const matches = (list: readonly unknown[], v: unknown) => list.some((x) => x === v || String(x) === String(v));

/**
 * Reads the province's reply. Returns a status per key it mentions, or an error string when the
 * reply is not what the profile says it should be (the batch is then retried).
 */
export function parseReply(p: Profile, json: unknown): { ok: true; results: Map<string, ItemResult> } | { ok: false; error: string } {
  if (typeof json !== 'object' || json === null) return { ok: false, error: 'reply is not a JSON object' };
  const r = p.reply;
  const obj = json as Record<string, unknown>;
  if (r.codeField !== null && obj[r.codeField] !== undefined && !matches(r.okCodes, obj[r.codeField])) {
    return { ok: false, error: `reply ${r.codeField} = ${JSON.stringify(obj[r.codeField])}` };
  }
  const list = obj[r.itemsField];
  if (!Array.isArray(list)) return { ok: false, error: `reply has no ${r.itemsField} list` };
  const results = new Map<string, ItemResult>();
  for (const it of list) {
    if (typeof it !== 'object' || it === null) continue;
    const o = it as Record<string, unknown>;
    const key = o[r.keyField];
    if (typeof key !== 'string') continue;
    const s = o[r.statusField];
    const reason = o[r.reasonField];
    const status: ItemStatus | null = matches(r.accepted, s)
      ? 'accepted'
      : matches(r.duplicate, s)
        ? 'duplicate'
        : matches(r.rejected, s)
          ? 'rejected'
          : null;
    if (status) results.set(key, reason === undefined || reason === null ? { status } : { status, reason: String(reason).slice(0, 500) });
  }
  return { ok: true, results };
}

/** The reply a province following this profile gives (the stand-in uses it). */
export function buildReply(p: Profile, results: { key: string; status: ItemStatus; reason?: string }[]): Record<string, unknown> {
  const r = p.reply;
  const first = (l: readonly unknown[]) => l[0];
  return {
    ...(r.codeField ? { [r.codeField]: first(r.okCodes) } : {}),
    [r.itemsField]: results.map((x) => ({
      [r.keyField]: x.key,
      [r.statusField]: first(r[x.status]),
      ...(x.reason ? { [r.reasonField]: x.reason } : {}),
    })),
  };
}

/**
 * What a province following this profile would refuse in an item: the checks the stand-in
 * makes, so a mapping mistake shows up as a rejection in tests instead of passing silently.
 */
export function checkItem(p: Profile, item: unknown): string | null {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'not an object';
  const o = item as Record<string, unknown>;
  const key = o[keyField(p)];
  if (typeof key !== 'string' || key.length === 0 || key.length > 128) return `${keyField(p)} missing or not a string`;
  if (p.format === 'native') return [1, 2, 3, 4, 5].includes(o.level as number) ? null : 'level must be 1–5';
  const f = p.fields;
  const allowed = [1, 2, 3, 4, 5].map((l) => String(satisfactionCode(p, l)));
  if (f.satisfaction && !allowed.includes(String(o[f.satisfaction]))) return `${f.satisfaction} must be one of ${allowed.join('/')}`;
  if (f.assessTime && !(typeof o[f.assessTime] === 'string' && timePatternRegex(p.assessTime.pattern).test(o[f.assessTime] as string)))
    return `${f.assessTime} must look like ${p.assessTime.pattern}`;
  if (
    f.writingEvaluation &&
    typeof o[f.writingEvaluation] === 'string' &&
    [...(o[f.writingEvaluation] as string)].length > p.writingEvaluation.maxLength
  ) {
    return `${f.writingEvaluation} longer than ${p.writingEvaluation.maxLength} characters`;
  }
  if (f.assessNumber && ![p.assessNumber.first, p.assessNumber.followUp].map(String).includes(String(o[f.assessNumber])))
    return `${f.assessNumber} must be ${p.assessNumber.first} or ${p.assessNumber.followUp}`;
  return null;
}
