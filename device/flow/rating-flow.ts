/**
 * The rating flow: a pure state machine. Events (presses, sessions, config, time) go in with
 * a monotonic timestamp; effects (frames to show, records to write) come out. It does no I/O
 * and reads no clock, so every rule is tested in milliseconds with a fake clock.
 */
import { LEVEL_LABELS, isBadReview, type DeviceConfig, type Level, type RecordFlag, type SessionRef } from '../../protocol/index.js';
import type { Frame } from '../display/types.js';

export interface OpenSession {
  ref: SessionRef;
  staffId: string | null;
  openedMono: number;
}

/** What the flow wants written: the agent adds identity, chain and signature. */
export interface RecordDraft {
  kind: 'rating' | 'not-rated';
  level: Level | null;
  reasons: string[];
  session: SessionRef | null;
  staffId: string | null;
  flags: RecordFlag[];
}

export type Effect =
  /** Write the record durably, then (only then) show `thanks`. */
  | { type: 'record'; draft: RecordDraft; thanks: Frame | null }
  | { type: 'show'; frame: Frame }
  | { type: 'count'; counter: string };

type Mode = 'idle' | 'prompt' | 'thanks' | 'paused';

export class RatingFlow {
  private mode: Mode = 'idle';
  private session: OpenSession | null = null;
  private promptMono = 0;
  private thanksUntil = 0;
  private lastRatingMono = -Infinity;

  constructor(private config: DeviceConfig) {
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
      case 'paused':
        return { screen: 'paused', text: c.prompts.paused };
      case 'prompt':
        return this.promptFrame();
      case 'thanks':
        return { screen: 'thanks', text: c.prompts.thanks, level: null, qr: null };
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
    };
  }

  setConfig(config: DeviceConfig): Effect[] {
    this.config = config;
    if (config.paused && this.mode !== 'paused') return this.pause();
    if (!config.paused && this.mode === 'paused') this.mode = 'idle';
    return [{ type: 'show', frame: this.frame() }];
  }

  private pause(): Effect[] {
    const out: Effect[] = [];
    if (this.session) out.push(...this.endUnrated());
    this.mode = 'paused';
    out.push({ type: 'show', frame: this.frame() });
    return out;
  }

  openSession(session: SessionRef, staffId: string | null, mono: number): Effect[] {
    if (this.mode === 'paused') return [{ type: 'count', counter: 'sessionsWhilePaused' }];
    const out: Effect[] = [];
    if (this.session) out.push(...this.endUnrated()); // a new case replaces one nobody rated
    this.session = { ref: session, staffId, openedMono: mono };
    this.mode = 'prompt';
    this.promptMono = mono;
    out.push({ type: 'show', frame: this.frame() });
    return out;
  }

  cancelSession(sessionId: string): Effect[] {
    if (this.session?.ref.id !== sessionId) return [];
    this.session = null;
    this.mode = 'idle';
    return [{ type: 'show', frame: this.frame() }];
  }

  private endUnrated(): Effect[] {
    const s = this.session;
    this.session = null;
    if (!s) return [];
    return [{ type: 'record', draft: { kind: 'not-rated', level: null, reasons: [], session: s.ref, staffId: s.staffId, flags: [] }, thanks: null }];
  }

  press(button: number, mono: number): Effect[] {
    const c = this.config;
    if (this.mode === 'paused') return [{ type: 'count', counter: 'pressesWhilePaused' }];
    const level = c.buttons[button];
    if (level === undefined) return [{ type: 'count', counter: 'pressesUnmapped' }];
    if (mono - this.lastRatingMono < c.timeouts.repeatIntervalS * 1000) {
      return [{ type: 'count', counter: 'pressesRepeated' }];
    }
    const flags: RecordFlag[] = [];
    const s = this.session;
    if (s) {
      if (mono - this.promptMono < c.timeouts.tooSoonS * 1000) flags.push('too-soon');
    } else {
      flags.push(c.mode === 'walk-up' ? 'walk-up' : 'no-session');
    }
    if (isBadReview(level)) flags.push('no-reason'); // the reason screen is not part of this flow yet
    this.session = null;
    this.lastRatingMono = mono;
    this.mode = 'thanks';
    this.thanksUntil = mono + c.timeouts.thanksS * 1000;
    return [
      {
        type: 'record',
        draft: { kind: 'rating', level, reasons: [], session: s?.ref ?? null, staffId: s?.staffId ?? c.staff?.id ?? null, flags },
        thanks: { screen: 'thanks', text: c.prompts.thanks, level, qr: null },
      },
    ];
  }

  tick(mono: number): Effect[] {
    if (this.mode === 'thanks' && mono >= this.thanksUntil) {
      this.mode = 'idle';
      return [{ type: 'show', frame: this.frame() }];
    }
    if (this.mode === 'prompt' && this.session && mono - this.promptMono >= this.config.timeouts.promptS * 1000) {
      const out = this.endUnrated();
      this.mode = 'idle';
      return [...out, { type: 'show', frame: this.frame() }];
    }
    return [];
  }
}
