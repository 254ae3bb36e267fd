import { EventEmitter } from 'node:events';
import { ButtonLines } from './debounce.js';
import type { ButtonDriver, ButtonDriverEvents, EdgeTiming } from './types.js';

/** What the drivers that see raw edges share: the debouncer wired to the driver's events. */
export abstract class EdgeButtonDriver extends EventEmitter<ButtonDriverEvents> implements ButtonDriver {
  abstract readonly name: string;
  protected readonly lines: ButtonLines;
  protected running = false;

  constructor(
    readonly count: number,
    timing: EdgeTiming = {},
  ) {
    super();
    this.lines = new ButtonLines(count, timing, {
      press: (b) => {
        if (this.running) this.emit('press', b);
      },
      fault: (f, d) => this.emit('fault', f, d),
      recover: (f) => this.emit('recover', f),
    });
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
}
