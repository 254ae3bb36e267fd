/**
 * The panel's control lines: DC (data/command), RST (reset, active low) and BUSY (an input the
 * controller drives while it works). Two ways to reach them, as for the buttons: sysfs GPIO
 * through onoff with the header chip's base looked up (Raspberry Pi OS Bookworm), or the
 * libgpiod tools for the Pi 5 / Trixie where sysfs GPIO is gone.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { sysfsLines, type GpioLine, type SysfsGpioOptions } from '../../gpio/sysfs-chip.js';

const run = promisify(execFile);

export interface PanelPinNumbers {
  /** Header GPIO (BCM) numbers. Waveshare HATs: DC 25, RST 17, BUSY 24. */
  dc: number;
  rst: number;
  busy: number;
}

export interface PanelPins {
  setDc(v: 0 | 1): Promise<void>;
  setRst(v: 0 | 1): Promise<void>;
  /** The BUSY line's electrical level. */
  busy(): Promise<0 | 1>;
  close(): Promise<void>;
}

/** sysfs GPIO through onoff: DC and RST driven, BUSY read. */
export class SysfsPanelPins implements PanelPins {
  private lines: GpioLine[] = [];
  private dc!: GpioLine;
  private rst!: GpioLine;
  private busyLine!: GpioLine;

  private constructor() {}

  static async open(pins: PanelPinNumbers, o: SysfsGpioOptions): Promise<SysfsPanelPins> {
    const p = new SysfsPanelPins();
    const { Gpio, lines } = await sysfsLines(o, [pins.dc, pins.rst, pins.busy]);
    p.dc = new Gpio(lines[0]!, 'low');
    // RST starts high (not in reset): exporting it low would reset the controller mid-refresh.
    p.rst = new Gpio(lines[1]!, 'high');
    p.busyLine = new Gpio(lines[2]!, 'in');
    p.lines = [p.dc, p.rst, p.busyLine];
    return p;
  }

  async setDc(v: 0 | 1): Promise<void> {
    this.dc.writeSync(v);
  }
  async setRst(v: 0 | 1): Promise<void> {
    this.rst.writeSync(v);
  }
  async busy(): Promise<0 | 1> {
    return this.busyLine.readSync() ? 1 : 0;
  }
  async close(): Promise<void> {
    for (const l of this.lines) l.unexport();
    this.lines = [];
  }
}

export interface GpiodPinsOptions {
  /** "gpiochip0" on a Pi 5 with kernel 6.6+ (RP1: the header), a number or a path. */
  chip: string;
  gpioset?: string;
  gpioget?: string;
}

/**
 * libgpiod tools (Debian's `gpiod`). gpioset holds its lines only while it runs (v1 with
 * `-m signal`, v2 by default), so the outputs are one gpioset that is replaced on every change,
 * both levels given each time (a line is held by one process at a time: the old one must exit
 * first; the Pi keeps a released output at its level meanwhile). BUSY is read with gpioget. Slower than sysfs (a process per change), which a panel
 * that takes a second per refresh can afford.
 */
export class GpiodPanelPins implements PanelPins {
  private version: 1 | 2 = 1;
  private holder: ChildProcess | null = null;
  private level = { dc: 0 as 0 | 1, rst: 1 as 0 | 1 };

  private constructor(
    private readonly pins: PanelPinNumbers,
    private readonly o: GpiodPinsOptions,
  ) {}

  static async open(pins: PanelPinNumbers, o: GpiodPinsOptions): Promise<GpiodPanelPins> {
    const p = new GpiodPanelPins(pins, o);
    const { stdout } = await run(o.gpioset ?? 'gpioset', ['--version']).catch((e: Error) => {
      throw new Error(`cannot run ${o.gpioset ?? 'gpioset'} (${e.message}); install Debian's "gpiod" package`);
    });
    p.version = /v2\./.test(stdout) ? 2 : 1;
    await p.apply();
    return p;
  }

  private async apply(): Promise<void> {
    await this.release();
    const values = [`${this.pins.dc}=${this.level.dc}`, `${this.pins.rst}=${this.level.rst}`];
    const args = this.version === 1 ? ['-m', 'signal', this.o.chip, ...values] : ['-c', this.o.chip, ...values];
    const next = spawn(this.o.gpioset ?? 'gpioset', args, { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      next.once('spawn', () => resolve());
      next.once('error', reject);
    });
    this.holder = next;
  }

  private async release(): Promise<void> {
    const h = this.holder;
    this.holder = null;
    if (h && h.exitCode === null && h.signalCode === null) {
      const gone = new Promise((r) => h.once('close', r));
      h.kill('SIGTERM');
      await gone;
    }
  }

  async setDc(v: 0 | 1): Promise<void> {
    if (this.level.dc === v) return;
    this.level.dc = v;
    await this.apply();
  }
  async setRst(v: 0 | 1): Promise<void> {
    if (this.level.rst === v) return;
    this.level.rst = v;
    await this.apply();
  }
  async busy(): Promise<0 | 1> {
    const args = this.version === 1 ? [this.o.chip, String(this.pins.busy)] : ['-c', this.o.chip, '--numeric', String(this.pins.busy)];
    const { stdout } = await run(this.o.gpioget ?? 'gpioget', args, { timeout: 2000 });
    return stdout.trim() === '1' ? 1 : 0;
  }
  async close(): Promise<void> {
    await this.release();
  }
}
