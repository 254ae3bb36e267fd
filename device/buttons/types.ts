import type { EventEmitter } from 'node:events';

/**
 * A button driver turns whatever the hardware does into clean presses: one `press` per
 * physical press, buttons numbered 0..count-1 from left to right. Debouncing and stuck-button
 * detection are the driver's job (see debounce.ts); what a press *means* is the rating flow's.
 * test/device/buttons-contract.test.ts is the contract every driver passes.
 */
export interface ButtonDriverEvents {
  press: [button: number];
  /** A fault the driver detected (stuck button, lost keypad or board), e.g. "stuck-button-3". */
  fault: [fault: string, detail?: string];
  /** A fault cleared. */
  recover: [fault: string];
  /** Something worth a counter in the device status (e.g. a garbage line on the serial keypad). */
  count: [counter: string];
}

export interface ButtonDriver extends EventEmitter<ButtonDriverEvents> {
  readonly name: string;
  /** How many buttons this driver reads. */
  readonly count: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Debounce and stuck-button settings shared by every driver that sees raw edges. */
export interface EdgeTiming {
  /** A level must hold this long to count (contacts chatter for a few ms). */
  debounceMs?: number;
  /** A button held down this long is reported stuck (one press, then a fault until released). */
  stuckMs?: number;
}

export const DEFAULT_DEBOUNCE_MS = 30;
export const DEFAULT_STUCK_MS = 60_000;

export function stuckFault(button: number): string {
  return `stuck-button-${button + 1}`;
}
