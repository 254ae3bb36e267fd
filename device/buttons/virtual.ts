import { EdgeButtonDriver } from './edge-driver.js';
import type { EdgeTiming } from './types.js';

/**
 * Buttons pressed by code: the simulator and tests. `press(i)` is a clean press; `down(i)` and
 * `up(i)` are raw contact levels that go through the same debouncer as the hardware drivers,
 * so the simulator can also chatter and jam buttons.
 */
export class VirtualButtons extends EdgeButtonDriver {
  readonly name = 'virtual';

  constructor(count = 5, timing: EdgeTiming = {}) {
    super(count, timing);
  }

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.lines.stop();
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`button ${i} does not exist; this device has ${this.count}`);
  }

  /** Presses button `i` (0-based). Ignored while stopped, like a device that is switched off. */
  press(i: number): void {
    if (!this.running) return;
    this.check(i);
    this.emit('press', i);
  }

  down(i: number): void {
    this.check(i);
    this.lines.edge(i, true);
  }

  up(i: number): void {
    this.check(i);
    this.lines.edge(i, false);
  }
}
