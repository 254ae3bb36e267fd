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
 * libgpiod tools (Debian's `gpiod`), for the Pi 5 / Trixie where sysfs GPIO is gone. Both levels
 * are given on every change. libgpiod v2's gpioset holds its lines until it exits: one runs at a
 * time, started with `--banner` so we know the lines are set before going on, and stopped before
 * the next (lines are exclusive). v1's gpioset is run to completion (`-m exit`): it sets the
 * lines and exits, and the Pi's pin controller keeps an output at its level after release.
 * BUSY is read with gpioget. Slower than sysfs (a process per change), which a panel that takes a
 * second per refresh can afford.
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
    const values = [`${this.pins.dc}=${this.level.dc}`, `${this.pins.rst}=${this.level.rst}`];
    const tool = this.o.gpioset ?? 'gpioset';
    if (this.version === 1) {
      await run(tool, ['-m', 'exit', this.o.chip, ...values], { timeout: 5000 });
      return;
    }
    await this.release();
    const next = spawn(tool, ['--banner', '-c', this.o.chip, ...values], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.holder = next;
    await new Promise<void>((resolve, reject) => {
      let err = '';
      next.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      next.stdout!.once('data', () => resolve());
      next.once('error', reject);
      next.once('close', (code) => reject(new Error(`gpioset exited (${code}): ${err.trim().slice(0, 200)}`)));
    });
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
    // (v1's gpioget cannot read a line another process holds; BUSY is never held by us.)
    const { stdout } = await run(this.o.gpioget ?? 'gpioget', args, { timeout: 10_000 });
    return stdout.trim() === '1' ? 1 : 0;
  }
  async close(): Promise<void> {
    await this.release();
  }
}
