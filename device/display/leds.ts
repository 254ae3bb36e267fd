import { sysfsLines, type GpioLine, type SysfsGpioOptions } from '../gpio/sysfs-chip.js';
import { ledPattern, lit, BLINK_HALF_PERIOD_MS, type LedPattern } from './led-patterns.js';
import type { DisplayDriver, Frame } from './types.js';

export interface LedDisplayOptions extends SysfsGpioOptions {
  /** Header GPIO numbers (BCM) of the button LEDs, left to right. */
  pins: number[];
  /** Header GPIO of the status LED. */
  statusPin: number;
}

/**
 * One LED per button plus a status LED, on sysfs GPIO through onoff (active high: GPIO →
 * resistor → LED → ground). Frames become blink patterns (led-patterns.ts); one timer ticks
 * at the fast blink rate and writes only the LEDs whose state changes. On stop every LED is
 * switched off and the lines are released.
 */
export class LedDisplay implements DisplayDriver {
  readonly name = 'leds';
  private leds: GpioLine[] = [];
  private state: boolean[] = [];
  private pattern: LedPattern;
  private since = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: LedDisplayOptions) {
    this.pattern = { buttons: o.pins.map(() => 'off'), status: 'off' };
  }

  async start(): Promise<void> {
    const { Gpio, lines } = await sysfsLines(this.o, [...this.o.pins, this.o.statusPin]);
    this.leds = lines.map((line) => new Gpio(line, 'low'));
    this.state = this.leds.map(() => false);
    this.since = Date.now();
    this.timer = setInterval(() => this.render(), BLINK_HALF_PERIOD_MS.fast);
    this.timer.unref();
    this.render();
  }

  show(frame: Frame): void {
    this.pattern = ledPattern(frame, this.o.pins.length);
    this.since = Date.now();
    if (this.timer) this.render();
  }

  private render(): void {
    const t = Date.now() - this.since;
    const want = [...this.pattern.buttons, this.pattern.status].map((b) => lit(b, t));
    want.forEach((on, i) => {
      if (on === this.state[i]) return;
      this.state[i] = on;
      this.leds[i]?.writeSync(on ? 1 : 0);
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const l of this.leds) {
      l.writeSync(0);
      l.unexport();
    }
    this.leds = [];
  }
}
