/**
 * What can go wrong at the province, on purpose: the stand-in draws one fault per request with
 * the configured ratios, and refuses records that match a rule. Set at start-up (CLI flags)
 * and changed at run time through PUT/PATCH /admin/faults.
 */
import { z } from 'zod';

const Ratio = (what: string) => z.number().min(0, `${what} must be between 0 and 1`).max(1, `${what} must be between 0 and 1`).default(0);

export const RejectRuleSchema = z
  .object({
    /** A dotted path into the wire item, e.g. "satisfaction", "level", "record.window". */
    field: z.string().min(1),
    /** A regular expression the field's value (as text) must match to be refused. */
    pattern: z.string().min(1),
    reason: z.string().min(1).max(300).optional(),
  })
  .strict()
  .refine((r) => {
    try {
      new RegExp(r.pattern);
      return true;
    } catch {
      return false;
    }
  }, 'pattern must be a valid regular expression');
export type RejectRule = z.infer<typeof RejectRuleSchema>;

export const FaultsSchema = z
  .object({
    /** Down for maintenance: every request gets 503 (with Retry-After when retryAfterS > 0). */
    unavailable: z.boolean().default(false),
    /** Share of requests answered 500 before anything is stored. */
    error500: Ratio('error500'),
    /** Share of requests never answered (the connection is held until the client gives up); nothing stored. */
    timeout: Ratio('timeout'),
    /** Share of requests stored, then answered only after slowMs. */
    slow: Ratio('slow'),
    slowMs: z.number().int().nonnegative().default(2000),
    /** Share of requests stored, then the connection dropped without an answer: the hub cannot know they were accepted. */
    drop: Ratio('drop'),
    /** Share of requests answered 429 with Retry-After: retryAfterS. */
    throttle: Ratio('throttle'),
    retryAfterS: z.number().int().nonnegative().default(1),
    rejectRules: z.array(RejectRuleSchema).default([]),
  })
  .strict()
  .refine((f) => f.error500 + f.timeout + f.slow + f.drop + f.throttle <= 1, 'the fault ratios add up to more than 1');
export type Faults = z.infer<typeof FaultsSchema>;
export type FaultsInput = z.input<typeof FaultsSchema>;

export type RequestFault = 'unavailable' | 'error500' | 'timeout' | 'slow' | 'drop' | 'throttle' | null;

/** The fault for one request: one uniform draw against the cumulative ratios. */
export function drawFault(f: Faults, random: () => number = Math.random): RequestFault {
  if (f.unavailable) return 'unavailable';
  let x = random();
  for (const k of ['error500', 'timeout', 'slow', 'drop', 'throttle'] as const) {
    if ((x -= f[k]) < 0) return k;
  }
  return null;
}

function valueAt(item: unknown, path: string): unknown {
  let v: unknown = item;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Compiled rules: the reason an item is refused, or null. */
export function ruleMatcher(rules: RejectRule[]): (item: unknown) => string | null {
  const compiled = rules.map((r) => ({ ...r, re: new RegExp(r.pattern) }));
  return (item) => {
    for (const r of compiled) {
      const v = valueAt(item, r.field);
      if (v !== undefined && v !== null && r.re.test(typeof v === 'string' ? v : JSON.stringify(v)))
        return r.reason ?? `${r.field} matches ${r.pattern}: refused by the province's rule`;
    }
    return null;
  };
}

/** "field=pattern" or "field=pattern=reason" from the command line. */
export function parseRejectRule(s: string): RejectRule {
  const m = /^([^=]+)=([^=]+)(?:=(.+))?$/.exec(s);
  if (!m) throw new Error(`a reject rule looks like field=pattern or field=pattern=reason, got "${s}"`);
  return RejectRuleSchema.parse({ field: m[1], pattern: m[2], reason: m[3] });
}
