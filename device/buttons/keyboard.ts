import { EventEmitter } from 'node:events';
import type { ButtonDriver, ButtonDriverEvents } from './types.js';

/** Keys 1..count on a terminal are the buttons, left to right. For bench work and the simulator. */
export class KeyboardButtons extends EventEmitter<ButtonDriverEvents> implements ButtonDriver {
  readonly name = 'keyboard';
  private readonly onData = (chunk: Buffer) => {
    for (const ch of chunk.toString('utf8')) {
      if (ch === '\u0003') process.kill(process.pid, 'SIGINT'); // raw mode swallows Ctrl-C
      const n = Number(ch);
      if (Number.isInteger(n) && n >= 1 && n <= this.count) this.emit('press', n - 1);
    }
  };

  constructor(
    readonly count = 5,
    private readonly input: NodeJS.ReadStream = process.stdin,
  ) {
    super();
  }

  async start(): Promise<void> {
    if (this.input.isTTY) this.input.setRawMode(true);
    this.input.on('data', this.onData);
    this.input.resume();
  }

  async stop(): Promise<void> {
    this.input.off('data', this.onData);
    if (this.input.isTTY) this.input.setRawMode(false);
    this.input.pause();
  }
}
