import { EventEmitter } from 'node:events';
import type { DisplayDriver, Frame } from './types.js';

/**
 * Several outputs shown the same frames: a panel and the voice prompts. Named after the first
 * (the panel); faults of every part reach the agent.
 */
export class TeeDisplay extends EventEmitter<{ fault: [string]; recover: [string] }> implements DisplayDriver {
  readonly name: string;

  constructor(readonly parts: DisplayDriver[]) {
    super();
    this.name = parts[0]!.name;
    for (const p of parts) {
      p.on?.('fault', (f) => this.emit('fault', f));
      p.on?.('recover', (f) => this.emit('recover', f));
    }
  }

  async start(): Promise<void> {
    for (const p of this.parts) await p.start();
  }

  show(frame: Frame): void {
    for (const p of this.parts) p.show(frame);
  }

  async stop(): Promise<void> {
    for (const p of this.parts) await p.stop();
  }
}
