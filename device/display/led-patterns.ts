import type { Frame } from './types.js';

/** What one LED does: off, steady, slow blink (2 Hz), fast blink (8 Hz). */
export type Blink = 'off' | 'on' | 'slow' | 'fast';
export const BLINK_HALF_PERIOD_MS = { slow: 250, fast: 62 } as const;

export interface LedPattern {
  /** One per button, left to right. */
  buttons: Blink[];
  status: Blink;
}

/**
 * How an LED-only evaluator shows each frame (hardware-notes.md has the table for the
 * installer's card): button LEDs lit = "please rate"; all blinking fast = thank you; the status
 * LED steady = working, slow = paused, fast = out of service (call hall IT).
 * On the reasons screen the buttons with a reason blink slowly, a chosen reason is steady.
 */
export function ledPattern(f: Frame, count: number): LedPattern {
  const all = (b: Blink) => Array.from({ length: count }, () => b);
  switch (f.screen) {
    case 'idle':
      return { buttons: all('off'), status: 'on' };
    case 'prompt':
      return { buttons: all('on'), status: 'on' };
    case 'reasons': {
      const buttons = all('off');
      for (const o of f.options)
        if (o.button < count) buttons[o.button] = o.reason ? (o.selected ? 'on' : 'slow') : o.action ? 'on' : 'off';
      return { buttons, status: 'on' };
    }
    case 'thanks':
      return { buttons: all('fast'), status: 'on' };
    case 'paused':
      return { buttons: all('off'), status: 'slow' };
    case 'out-of-service':
      return { buttons: all('off'), status: 'fast' };
  }
}

/** Whether a blinking LED is lit at `ms` since the pattern started. */
export function lit(b: Blink, ms: number): boolean {
  if (b === 'off' || b === 'on') return b === 'on';
  return Math.floor(ms / BLINK_HALF_PERIOD_MS[b]) % 2 === 0;
}
