import { DEFAULT_DEBOUNCE_MS, DEFAULT_STUCK_MS, stuckFault, type EdgeTiming } from './types.js';

export interface LineSink {
  press(button: number): void;
  fault(fault: string, detail: string): void;
  recover(fault: string): void;
}

interface Line {
  raw: boolean;
  /** Hardware timestamp (ms) of the last edge, when the driver has one. */
  rawAt: number | null;
  stable: boolean;
  settle: NodeJS.Timeout | null;
  stuckTimer: NodeJS.Timeout | null;
  stuck: boolean;
}

/**
 * Debounces raw button levels into presses, for every driver that sees edges (GPIO, gpiomon,
 * a keypad MCU reporting down/up, Firmata). A level counts once it has held for `debounceMs`:
 * contacts that chatter for a few milliseconds give one press, and a lone spike gives none.
 * A press is reported when the button settles down; a button that then stays down for
 * `stuckMs` raises a "stuck-button-N" fault (once), cleared when it settles up again. A
 * stuck button therefore gives exactly one press, however long it is held.
 */
export class ButtonLines {
  private readonly lines: Line[];
  readonly debounceMs: number;
  readonly stuckMs: number;

  constructor(
    readonly count: number,
    timing: EdgeTiming,
    private readonly sink: LineSink,
  ) {
    this.debounceMs = timing.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.stuckMs = timing.stuckMs ?? DEFAULT_STUCK_MS;
    this.lines = Array.from({ length: count }, () => ({
      raw: false,
      rawAt: null,
      stable: false,
      settle: null,
      stuckTimer: null,
      stuck: false,
    }));
  }

  /** The level read at start-up: a button already down is not a press, but can be stuck. */
  init(button: number, down: boolean): void {
    const l = this.lines[button];
    if (!l) return;
    l.raw = l.stable = down;
    if (down) this.armStuck(button, l);
  }

  /**
   * A raw level report from the hardware (true: pressed). Repeats of the same level are harmless.
   * `atMs` is the hardware's own timestamp of the edge (gpiomon gives the kernel's): when edges
   * arrive bunched up (a busy pipe, a slow USB adapter) the gap between their timestamps, not
   * their arrival, decides whether the level before held long enough to count.
   */
  edge(button: number, down: boolean, atMs?: number): void {
    const l = this.lines[button];
    if (!l || l.raw === down) return;
    if (atMs !== undefined && l.rawAt !== null && atMs - l.rawAt >= this.debounceMs && l.raw !== l.stable) {
      if (l.settle) clearTimeout(l.settle);
      this.settled(button, l);
    }
    l.rawAt = atMs ?? null;
    l.raw = down;
    if (l.settle) clearTimeout(l.settle);
    l.settle = setTimeout(() => this.settled(button, l), this.debounceMs);
  }

  private settled(button: number, l: Line): void {
    l.settle = null;
    if (l.raw === l.stable) return; // bounced back: nothing happened
    l.stable = l.raw;
    if (l.stable) {
      this.sink.press(button);
      this.armStuck(button, l);
    } else {
      if (l.stuckTimer) clearTimeout(l.stuckTimer);
      l.stuckTimer = null;
      if (l.stuck) {
        l.stuck = false;
        this.sink.recover(stuckFault(button));
      }
    }
  }

  private armStuck(button: number, l: Line): void {
    if (l.stuckTimer) clearTimeout(l.stuckTimer);
    l.stuckTimer = setTimeout(() => {
      l.stuckTimer = null;
      l.stuck = true;
      this.sink.fault(stuckFault(button), `button ${button + 1} has been held down for ${Math.round(this.stuckMs / 1000)} s`);
    }, this.stuckMs);
  }

  /** Stops all timers (driver stop). Levels are kept. */
  stop(): void {
    for (const l of this.lines) {
      if (l.settle) clearTimeout(l.settle);
      if (l.stuckTimer) clearTimeout(l.stuckTimer);
      l.settle = l.stuckTimer = null;
    }
  }
}
