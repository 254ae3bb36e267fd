import type { Level, Reason, Staff } from '../../protocol/index.js';

/** What one button does on the reasons screen: pick a reason, turn the page, confirm, or skip. */
export interface ReasonOption {
  button: number;
  reason: Reason | null;
  action?: 'next' | 'done' | 'skip';
  selected?: boolean;
}

/**
 * What the device shows. Every display (LEDs, e-ink behind a serial controller, a terminal,
 * the virtual one) renders the same frames, each in its own way.
 */
export type Frame =
  /** The staff card (信息牌): window, staff on duty. */
  | { screen: 'idle'; window: string; windowName: string | null; staff: Staff | null }
  /** `qr` (optional): "scan to rate later" for a citizen who leaves without pressing (the hub's citizen page). */
  | {
      screen: 'prompt';
      text: string;
      staff: Staff | null;
      levels: { button: number; level: Level; label: string }[];
      cases: string[];
      qr?: string | null;
    }
  | { screen: 'reasons'; text: string; level: Level; page: number; pages: number; options: ReasonOption[]; qr: string | null }
  /** `ref` is the record id, the citizen's receipt; `qr` a link to add details on a phone. */
  | { screen: 'thanks'; text: string; level: Level | null; qr: string | null; ref?: string | null }
  | { screen: 'paused'; text: string }
  | { screen: 'out-of-service'; text: string; fault: string };

export type Screen = Frame['screen'];
export const SCREENS: readonly Screen[] = ['idle', 'prompt', 'reasons', 'thanks', 'paused', 'out-of-service'];

export interface DisplayDriver {
  readonly name: string;
  start(): Promise<void>;
  show(frame: Frame): void;
  stop(): Promise<void>;
  /** Faults the display itself detected (controller silent, port lost); optional. */
  on?(event: 'fault' | 'recover', listener: (fault: string) => void): unknown;
}
