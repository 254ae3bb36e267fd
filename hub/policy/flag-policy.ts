/**
 * What a flag on a rating does to it — decided once, here, by a pure function, and applied in
 * two places: the forward decision (inside the ingest transaction, hub/sessions/session-book.ts)
 * and the statistics facts (hub/stats/facts.ts reads the decision stored with the record).
 *
 * Each flag a record carries has an action, set per hall (hall settings `flagPolicy`):
 *   - count:   an ordinary rating; the flag stays on the record, nobody is pointed at it;
 *   - flag:    counted and forwarded, and shown as flagged (wall, statistics, CSV, province);
 *   - exclude: stored and shown, never deleted, but neither counted nor forwarded as a rating
 *              (Hubei art. 15 and Jilin: 误评/恶意评价 "不予采纳", kept on record).
 * The strictest action of a record's flags wins (exclude > flag > count).
 *
 * Which flags count as "sessionless" is the hub's truth, not the device's claim: a press in
 * session mode with no session the hub opened for that device is `no-session` even if the
 * device did not say so, and a press on a device the hub runs in walk-up mode is `walk-up`
 * even if the device (with a stale config) said `no-session`. The defaults follow the issue:
 * in session mode a sessionless press is kept but not counted; walk-up halls keep counting.
 */
import { z } from 'zod';

export const FLAG_ACTIONS = ['count', 'flag', 'exclude'] as const;
export type FlagAction = (typeof FLAG_ACTIONS)[number];

/** Flags whose meaning the hub decides from its own records (sessions, the device's mode). */
export const SESSION_FLAGS = ['no-session', 'walk-up'] as const;

/**
 * Per flag name → action. Open-ended on purpose: flags the hub itself adds (an attribution that
 * does not match the hub's session, a device over its rating-rate cap) get an action the same way.
 */
export const FlagPolicySchema = z
  .record(z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a flag name is lowercase letters, digits and "-"'), z.enum(FLAG_ACTIONS))
  .refine((p) => Object.keys(p).length <= 32, { message: 'at most 32 flags' });
export type FlagPolicy = z.infer<typeof FlagPolicySchema>;

/** What a flag does unless the hall says otherwise. */
export const DEFAULT_FLAG_POLICY: Readonly<Record<string, FlagAction>> = {
  'no-session': 'exclude', // session mode, no session open: not a service anyone can name
  'walk-up': 'count', // walk-up halls have no sessions; every press is a rating
  'no-reason': 'count', // a 差评 without a reason is still a 差评 (it gets a work-order task instead)
  'too-soon': 'flag', // faster than a citizen reads the prompt: possibly staff pressing
  repeated: 'flag', // the citizen pressed again; the extra presses were ignored
};
/** A flag nobody configured (e.g. one a newer device or hub part adds): shown, still counted. */
export const UNKNOWN_FLAG_ACTION: FlagAction = 'flag';

const RANK: Record<FlagAction, number> = { count: 0, flag: 1, exclude: 2 };

export interface FlagInput {
  /** The flags in the device's signed record (its claims). */
  deviceFlags: readonly string[];
  /** Flags the hub adds from what it knows itself (e.g. attribution checks). */
  hubFlags?: readonly string[];
  /** The mode the hub runs this device in when the record arrives. */
  mode: 'session' | 'walk-up';
  /** Whether the record answers a session the hub opened for this device. */
  hubSession: boolean;
}

export interface FlagDecision {
  action: FlagAction;
  /** Every flag the rating carries after the hub's own view, in a stable order. */
  flags: string[];
  /** The flags that decided the action (empty for 'count'). */
  because: string[];
  /** The flags shown as flagged: those whose action is not plain 'count'. */
  shown: string[];
}

/** The effective flags: the device's, with the session flags replaced by the hub's truth. */
export function effectiveFlags(i: FlagInput): string[] {
  const out = new Set<string>();
  for (const f of i.deviceFlags) if (!(SESSION_FLAGS as readonly string[]).includes(f)) out.add(f);
  if (!i.hubSession) out.add(i.mode === 'walk-up' ? 'walk-up' : 'no-session');
  for (const f of i.hubFlags ?? []) out.add(f);
  return [...out].sort();
}

export function actionOf(flag: string, policy: FlagPolicy = {}): FlagAction {
  return policy[flag] ?? DEFAULT_FLAG_POLICY[flag] ?? UNKNOWN_FLAG_ACTION;
}

/** Pure: the action for one rating. */
export function decideFlags(i: FlagInput, policy: FlagPolicy = {}): FlagDecision {
  const flags = effectiveFlags(i);
  let action: FlagAction = 'count';
  for (const f of flags) if (RANK[actionOf(f, policy)] > RANK[action]) action = actionOf(f, policy);
  const because = action === 'count' ? [] : flags.filter((f) => actionOf(f, policy) === action);
  return { action, flags, because, shown: shownFlags(flags, policy) };
}

/** Flags shown as flagged (the wall's badge, the statistics' flagged column): not the plain 'count' ones. */
export function shownFlags(flags: readonly string[], policy: FlagPolicy = {}): string[] {
  return flags.filter((f) => actionOf(f, policy) !== 'count');
}

/** zh-CN labels for the page and the CSV. */
export const FLAG_LABELS: Record<string, string> = {
  'no-session': '无办件会话',
  'walk-up': '自助评价',
  'no-reason': '差评未选原因',
  'too-soon': '提示后过快按键',
  repeated: '重复按键',
  'attribution-mismatch': '归属不符',
  'rate-exceeded': '超出评价频率',
};
export const ACTION_LABELS: Record<FlagAction, string> = { count: '计入', flag: '计入并标记', exclude: '不计入（保留记录）' };
