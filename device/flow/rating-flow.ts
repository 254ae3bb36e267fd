/**
 * The rating flow: a pure state machine. Events (presses, sessions, config, time, the outbox
 * refusing a write) go in with a monotonic timestamp in ms; effects (frames to show, records to
 * write, counters) come out. It does no I/O and reads no clock, so every rule is tested in
 * milliseconds with a fake clock (test/device/rating-flow.test.ts reads as its specification).
 *
 *   idle (staff card, 信息牌) ──session──▶ prompt ──good level──▶ [record] ▶ thanks ──▶ idle
 *                                            │ └──timeout──▶ [not-rated record] ▶ idle
 *                                            └──差评──▶ reasons ──done/skip/timeout──▶ [record] ▶ thanks
 *   A good level shows its own preset content too where the hall lists it in `reasonsAfter`
 *   (Hubei art. 13); with `reasonRequired` (Ankang art. 8) a 差评's skip is asked about once more.
 *   paused: presses ignored and counted.  out-of-service: the outbox cannot take records.
 */
import {
  LEVEL_LABELS,
  isBadReview,
  newRecordId,
  reasonsForLevel,
  type DeviceConfig,
  type Level,
  type Reason,
  type RecordFlag,
  type SessionRef,
} from '../../protocol/index.js';
import type { Frame, ReasonOption } from '../display/types.js';
import { feedbackLink, rateLaterQr } from './feedback-link.js';

export interface OpenSession {
  ref: SessionRef;
  staffId: string | null;
  openedMono: number;
}

/** What the flow wants written: the agent adds identity, sequence, chain and signature. */
export interface RecordDraft {
  /** The record id, chosen here so the thank-you and the QR code can name the record. */
  id: string;
  kind: 'rating' | 'not-rated';
  level: Level | null;
  reasons: string[];
  session: SessionRef | null;
  staffId: string | null;
  flags: RecordFlag[];
}

export type Effect =
  /** Write the record durably, then (only then) show `thanks`. If the write fails, show nothing of it. */
  { type: 'record'; draft: RecordDraft; thanks: Frame | null } | { type: 'show'; frame: Frame } | { type: 'count'; counter: string };

export type Mode = 'idle' | 'prompt' | 'reasons' | 'thanks' | 'paused' | 'out-of-service';

/** A rating whose level is chosen and whose reasons (preset content) are being picked. */
interface PendingRating {
  id: string;
  level: Level;
  button: number;
  session: SessionRef | null;
  staffId: string | null;
  flags: RecordFlag[];
  reasons: Reason[];
  selected: Set<string>;
  page: number;
  openedMono: number;
  lastInputMono: number;
  /** A skip with nothing picked was already asked about once (reasonRequired). */
  askedAgain: boolean;
}

export interface FlowOptions {
  /** Record ids; UUIDv7 by default, injectable so tests are deterministic. */
  newId?: () => string;
}

/** Levels whose preset content is offered when the hall does not say (the 差评 levels). */
const DEFAULT_REASONS_AFTER: readonly Level[] = [1, 2];
const GOOD_REASONS_PROMPT = '请选择符合您感受的评价内容（可跳过）';
const REASON_NEEDED_PROMPT = '差评请至少选择一项原因，或扫码填写文字；再按「跳过」将不填原因提交';

/** Longest a same-button double press on the new reasons screen counts as a repeat, not a choice. */
const MAX_REASON_GUARD_MS = 1000;

export class RatingFlow {
  private mode: Mode = 'idle';
  private session: OpenSession | null = null;
  /** A session that arrived while a citizen was still picking reasons: it waits its turn. */
  private queued: OpenSession | null = null;
  private pending: PendingRating | null = null;
  private promptMono = 0;
  private thanksUntil = 0;
  /** What the thank-you screen shows: the level, the receipt reference and the feedback QR stay on it until it ends. */
  private thanks: { level: Level | null; qr: string | null; ref: string } | null = null;
  private lastRatingMono = -Infinity;
  private fault: string | null = null;
  private readonly newId: () => string;

  constructor(
    private config: DeviceConfig,
    o: FlowOptions = {},
  ) {
    this.newId = o.newId ?? newRecordId;
    if (config.paused) this.mode = 'paused';
  }

  get state(): Mode {
    return this.mode;
  }

  get currentSession(): OpenSession | null {
    return this.session;
  }

  /** The frame for the current state, e.g. after a restart or a config change. */
  frame(): Frame {
    const c = this.config;
    switch (this.mode) {
      case 'out-of-service':
        return { screen: 'out-of-service', text: '设备暂停使用，请联系工作人员', fault: this.fault ?? 'unknown' };
      case 'paused':
        return { screen: 'paused', text: c.prompts.paused };
      case 'prompt':
        return this.promptFrame();
      case 'reasons':
        return this.reasonsFrame(this.pending!);
      case 'thanks':
        return {
          screen: 'thanks',
          text: c.prompts.thanks,
          level: this.thanks?.level ?? null,
          qr: this.thanks?.qr ?? null,
          ref: this.thanks?.ref ?? null,
        };
      default:
        return c.mode === 'walk-up' ? this.promptFrame() : { screen: 'idle', window: c.window, windowName: c.windowName, staff: c.staff };
    }
  }

  private promptFrame(): Frame {
    const c = this.config;
    return {
      screen: 'prompt',
      text: c.prompts.ask,
      staff: c.staff,
      levels: c.buttons.map((level, button) => ({ button, level, label: LEVEL_LABELS[level].zh })),
      cases: this.session?.ref.cases ?? [],
      // A citizen who walks away can still rate this service from a phone until its deadline.
      ...(this.session && rateLaterQr(c, this.session.ref.id) ? { qr: rateLaterQr(c, this.session.ref.id) } : {}),
    };
  }

  /**
   * The reasons of one level, paged across the buttons: with n buttons, n-2 reasons per page,
   * then 下一页 and 确认/跳过 on the last two (n-1 reasons and no page button when they all fit).
   */
  private layout(p: PendingRating): { slots: number; pages: number; paged: boolean } {
    const n = this.config.buttons.length;
    const paged = p.reasons.length > n - 1;
    const slots = Math.max(1, paged ? n - 2 : n - 1);
    return { slots, pages: Math.max(1, Math.ceil(p.reasons.length / slots)), paged };
  }

  private reasonsFrame(p: PendingRating): Frame {
    const n = this.config.buttons.length;
    const { slots, pages, paged } = this.layout(p);
    const options: ReasonOption[] = [];
    for (let i = 0; i < slots; i++) {
      const reason = p.reasons[p.page * slots + i] ?? null;
      options.push(reason ? { button: i, reason, selected: p.selected.has(reason.code) } : { button: i, reason: null });
    }
    if (paged) options.push({ button: n - 2, reason: null, action: 'next' });
    options.push({ button: n - 1, reason: null, action: p.selected.size ? 'done' : 'skip' });
    const prompts = this.config.prompts;
    const text = !isBadReview(p.level)
      ? (prompts.goodReasons ?? GOOD_REASONS_PROMPT)
      : p.askedAgain
        ? (prompts.reasonNeeded ?? REASON_NEEDED_PROMPT)
        : prompts.reasons;
    return {
      screen: 'reasons',
      text,
      level: p.level,
      page: p.page,
      pages,
      options,
      qr: isBadReview(p.level) ? feedbackLink(this.config, p.id) : null,
    };
  }

  setConfig(config: DeviceConfig, mono = 0): Effect[] {
    const before = JSON.stringify(this.frame());
    this.config = config;
    const out: Effect[] = [];
    if (config.paused && this.mode !== 'paused') {
      out.push(...this.finishPending(mono, false), ...this.endUnrated('session'), ...this.dropQueued());
      if (this.mode !== 'out-of-service') this.mode = 'paused';
    } else if (!config.paused && this.mode === 'paused') {
      this.mode = 'idle';
    }
    if (this.pending) this.pending.page = Math.min(this.pending.page, this.layout(this.pending).pages - 1);
    // A config that changes nothing on screen (the hub resends it on every reconnect) does not
    // redraw: an e-paper refresh flashes the panel and takes seconds.
    const frame = this.frame();
    if (out.length || JSON.stringify(frame) !== before) out.push({ type: 'show', frame });
    return out;
  }

  openSession(session: SessionRef, staffId: string | null, mono: number): Effect[] {
    const s: OpenSession = { ref: session, staffId, openedMono: mono };
    if (this.mode === 'paused' || this.mode === 'out-of-service') {
      // Never prompted: tell the hub now (not rated) rather than leave it guessing for 7 days.
      const counter = this.mode === 'paused' ? 'sessionsWhilePaused' : 'sessionsWhileOutOfService';
      return [{ type: 'count', counter }, ...(this.mode === 'paused' ? this.unratedRecord(s) : [])];
    }
    if (this.mode === 'reasons' || (this.mode === 'thanks' && this.queued)) {
      const out = this.dropQueued();
      this.queued = s;
      return out;
    }
    const out: Effect[] = [];
    if (this.session) out.push({ type: 'count', counter: 'sessionsReplaced' }, ...this.endUnrated('session')); // a new case replaces one nobody rated
    out.push(...this.prompt(s, mono));
    return out;
  }

  private prompt(s: OpenSession, mono: number): Effect[] {
    this.session = s;
    this.mode = 'prompt';
    this.promptMono = mono;
    // A new citizen is not a repeat of the last one; presses too soon are judged by tooSoonS.
    this.lastRatingMono = -Infinity;
    return [{ type: 'show', frame: this.frame() }];
  }

  cancelSession(sessionId: string): Effect[] {
    if (this.queued?.ref.id === sessionId) {
      this.queued = null;
      return [];
    }
    // Once the citizen has pressed, the rating stands: a cancel cannot take it back.
    if (this.session?.ref.id !== sessionId || this.mode !== 'prompt') return [];
    this.session = null;
    this.mode = 'idle';
    return [{ type: 'show', frame: this.frame() }];
  }

  private unratedRecord(s: OpenSession): Effect[] {
    return [
      {
        type: 'record',
        draft: { id: this.newId(), kind: 'not-rated', level: null, reasons: [], session: s.ref, staffId: s.staffId, flags: [] },
        thanks: null,
      },
    ];
  }

  private endUnrated(which: 'session' | 'queued'): Effect[] {
    const s = which === 'session' ? this.session : this.queued;
    if (which === 'session') this.session = null;
    else this.queued = null;
    return s ? this.unratedRecord(s) : [];
  }

  private dropQueued(): Effect[] {
    return this.queued ? [{ type: 'count', counter: 'sessionsReplaced' }, ...this.endUnrated('queued')] : [];
  }

  press(button: number, mono: number): Effect[] {
    const c = this.config;
    if (this.mode === 'out-of-service') return [{ type: 'count', counter: 'pressesOutOfService' }];
    if (this.mode === 'paused') return [{ type: 'count', counter: 'pressesWhilePaused' }];
    if (this.mode === 'reasons') return this.pressOnReasons(button, mono);
    const level = c.buttons[button];
    if (level === undefined) return [{ type: 'count', counter: 'pressesUnmapped' }];
    if (mono - this.lastRatingMono < c.timeouts.repeatIntervalS * 1000) return [{ type: 'count', counter: 'pressesRepeated' }];

    const flags: RecordFlag[] = [];
    const s = this.session;
    if (s) {
      if (mono - this.promptMono < c.timeouts.tooSoonS * 1000) flags.push('too-soon');
    } else {
      flags.push(c.mode === 'walk-up' ? 'walk-up' : 'no-session');
    }
    this.session = null;
    const base = { id: this.newId(), level, session: s?.ref ?? null, staffId: s?.staffId ?? c.staff?.id ?? null, flags };
    const reasons = (c.reasonsAfter ?? DEFAULT_REASONS_AFTER).includes(level) ? reasonsForLevel(c.catalogue, level) : [];
    if (reasons.length > 0) {
      this.pending = { ...base, button, reasons, selected: new Set(), page: 0, openedMono: mono, lastInputMono: mono, askedAgain: false };
      this.mode = 'reasons';
      return [{ type: 'show', frame: this.frame() }];
    }
    if (isBadReview(level)) flags.push('no-reason'); // no preset content offered for this level
    return this.rate({ ...base, kind: 'rating', reasons: [] }, mono);
  }

  private pressOnReasons(button: number, mono: number): Effect[] {
    const p = this.pending!;
    const n = this.config.buttons.length;
    if (button < 0 || button >= n) return [{ type: 'count', counter: 'pressesUnmapped' }];
    // The same button pressed again right away is the citizen making sure, not a choice.
    const guard = Math.min(this.config.timeouts.repeatIntervalS * 1000, MAX_REASON_GUARD_MS);
    if (button === p.button && mono - p.openedMono < guard && p.lastInputMono === p.openedMono) {
      if (!p.flags.includes('repeated')) p.flags.push('repeated');
      return [{ type: 'count', counter: 'pressesRepeated' }];
    }
    p.lastInputMono = mono;
    const { slots, pages, paged } = this.layout(p);
    if (button === n - 1) {
      // Ankang art. 8: a 差评 needs a reason or text. Ask once more; a second skip is accepted.
      if (p.selected.size === 0 && isBadReview(p.level) && this.config.reasonRequired && !p.askedAgain) {
        p.askedAgain = true;
        return [
          { type: 'count', counter: 'reasonAskedAgain' },
          { type: 'show', frame: this.frame() },
        ];
      }
      return this.finishPending(mono, true);
    }
    if (paged && button === n - 2) {
      p.page = (p.page + 1) % pages;
      return [{ type: 'show', frame: this.frame() }];
    }
    const reason = button < slots ? p.reasons[p.page * slots + button] : undefined;
    if (!reason) return [{ type: 'count', counter: 'pressesUnmapped' }];
    if (p.selected.has(reason.code)) p.selected.delete(reason.code);
    else if (p.selected.size < 16) p.selected.add(reason.code);
    return [{ type: 'show', frame: this.frame() }];
  }

  /** Records the pending rating with what was picked; a 差评 with nothing picked → flagged no-reason, QR offered. */
  private finishPending(mono: number, showThanks: boolean): Effect[] {
    const p = this.pending;
    if (!p) return [];
    this.pending = null;
    const reasons = p.reasons.filter((r) => p.selected.has(r.code)).map((r) => r.code);
    const flags: RecordFlag[] = reasons.length || !isBadReview(p.level) ? p.flags : [...p.flags, 'no-reason'];
    const draft: RecordDraft = { id: p.id, kind: 'rating', level: p.level, reasons, session: p.session, staffId: p.staffId, flags };
    if (!showThanks) {
      this.lastRatingMono = mono;
      this.mode = 'idle';
      return [{ type: 'record', draft, thanks: null }];
    }
    return this.rate(draft, mono);
  }

  private rate(draft: RecordDraft, mono: number): Effect[] {
    const c = this.config;
    this.lastRatingMono = mono;
    this.mode = 'thanks';
    this.thanksUntil = mono + c.timeouts.thanksS * 1000;
    const qr = draft.level !== null && isBadReview(draft.level) ? feedbackLink(c, draft.id) : null;
    this.thanks = { level: draft.level, qr, ref: draft.id };
    return [{ type: 'record', draft, thanks: this.frame() }];
  }

  tick(mono: number): Effect[] {
    const c = this.config;
    if (this.mode === 'thanks' && mono >= this.thanksUntil) {
      this.mode = 'idle';
      const q = this.queued;
      this.queued = null;
      return q ? this.prompt(q, mono) : [{ type: 'show', frame: this.frame() }];
    }
    if (this.mode === 'reasons' && this.pending && mono - this.pending.lastInputMono >= c.timeouts.reasonS * 1000) {
      return this.finishPending(mono, true);
    }
    if (this.mode === 'prompt' && this.session && mono - this.promptMono >= c.timeouts.promptS * 1000) {
      const out = this.endUnrated('session');
      this.mode = 'idle';
      return [...out, { type: 'show', frame: this.frame() }];
    }
    return [];
  }

  /**
   * The outbox refused a write (full, disk full, broken): nothing more can be rated. Whatever
   * was being rated is dropped unthanked; open sessions are left to the hub's default.
   */
  outOfService(fault: string): Effect[] {
    this.fault = fault;
    this.pending = null;
    this.session = null;
    this.queued = null;
    this.mode = 'out-of-service';
    return [{ type: 'show', frame: this.frame() }];
  }

  backInService(): Effect[] {
    if (this.mode !== 'out-of-service') return [];
    this.fault = null;
    this.mode = this.config.paused ? 'paused' : 'idle';
    return [{ type: 'show', frame: this.frame() }];
  }
}
