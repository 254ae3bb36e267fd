import { EventEmitter } from 'node:events';
import type { ButtonDriver, ButtonDriverEvents } from './types.js';

/** Buttons pressed by code: the simulator, tests, and the keyboard in a terminal. */
export class VirtualButtons extends EventEmitter<ButtonDriverEvents> implements ButtonDriver {
  readonly name = 'virtual';
  private running = false;

  constructor(readonly count = 5) {
    super();
  }

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  /** Presses button `i` (0-based). Ignored while stopped, like a device that is switched off. */
  press(i: number): void {
    if (!this.running) return;
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`button ${i} does not exist; this device has ${this.count}`);
    this.emit('press', i);
  }
}
