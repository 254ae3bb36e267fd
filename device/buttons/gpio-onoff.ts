import { EdgeButtonDriver } from './edge-driver.js';
import type { EdgeTiming } from './types.js';
import { sysfsLines, type GpioLine, type SysfsGpioOptions } from '../gpio/sysfs-chip.js';

export interface OnoffButtonsOptions extends EdgeTiming, SysfsGpioOptions {
  /** Header GPIO numbers (BCM), one per button, left to right. */
  pins: number[];
}

/**
 * Buttons on sysfs GPIO through `onoff`. Each button is wired between its GPIO and ground with
 * a pull-up, so it is active low: onoff's activeLow makes "pressed" read 1. Every edge goes to
 * the shared debouncer; onoff's own debounce is off so chatter and stuck buttons are handled the
 * same way as in every other driver.
 */
export class OnoffButtons extends EdgeButtonDriver {
  readonly name = 'gpio';
  private gpios: GpioLine[] = [];

  constructor(private readonly o: OnoffButtonsOptions) {
    super(o.pins.length, o);
  }

  async start(): Promise<void> {
    const { Gpio, lines } = await sysfsLines(this.o, this.o.pins);
    this.running = true;
    lines.forEach((line, i) => {
      const g = new Gpio(line, 'in', 'both', { activeLow: true, debounceTimeout: 0 });
      this.gpios.push(g);
      this.lines.init(i, g.readSync() === 1);
      g.watch((err, value) => {
        if (err) return void this.emit('fault', 'gpio-error', err.message);
        this.lines.edge(i, value === 1);
      });
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.lines.stop();
    for (const g of this.gpios) {
      g.unwatchAll();
      g.unexport();
    }
    this.gpios = [];
  }
}
