import type { EventEmitter } from 'node:events';

/**
 * A button driver turns whatever the hardware does into clean presses: one `press` per
 * physical press, buttons numbered 0..count-1 from left to right. Debouncing is the
 * driver's job; what a press *means* is the rating flow's.
 */
export interface ButtonDriverEvents {
  press: [button: number];
  /** A fault the driver detected (stuck button, garbage on the line, lost board). */
  fault: [fault: string, detail?: string];
  /** A fault cleared. */
  recover: [fault: string];
}

export interface ButtonDriver extends EventEmitter<ButtonDriverEvents> {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
