import type { Level, Reason, Staff } from '../../protocol/index.js';

/**
 * What the device shows. Every display (LEDs, e-ink behind a serial controller, a terminal,
 * the virtual one) renders the same frames, each in its own way.
 */
export type Frame =
  | { screen: 'idle'; window: string; windowName: string | null; staff: Staff | null }
  | { screen: 'prompt'; text: string; staff: Staff | null; levels: { button: number; level: Level; label: string }[]; cases: string[] }
  | { screen: 'reasons'; text: string; level: Level; page: number; pages: number; options: { button: number; reason: Reason | null; action?: 'next' | 'done' | 'skip'; selected?: boolean }[]; qr: string | null }
  | { screen: 'thanks'; text: string; level: Level | null; qr: string | null }
  | { screen: 'paused'; text: string }
  | { screen: 'out-of-service'; text: string; fault: string };

export interface DisplayDriver {
  readonly name: string;
  start(): Promise<void>;
  show(frame: Frame): void;
  stop(): Promise<void>;
}
