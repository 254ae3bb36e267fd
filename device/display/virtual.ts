import type { DisplayDriver, Frame } from './types.js';

/** Records every frame: what the simulator draws and what tests look at. */
export class VirtualDisplay implements DisplayDriver {
  readonly name = 'virtual';
  readonly frames: Frame[] = [];
  private listeners: ((f: Frame) => void)[] = [];
  private running = false;

  constructor(private readonly keep = 100) {}

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  show(frame: Frame): void {
    if (!this.running) return;
    this.frames.push(frame);
    if (this.frames.length > this.keep) this.frames.splice(0, this.frames.length - this.keep);
    for (const l of this.listeners) l(frame);
  }

  get current(): Frame | undefined {
    return this.frames[this.frames.length - 1];
  }

  onFrame(listener: (f: Frame) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }
}
