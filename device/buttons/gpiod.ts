import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { EdgeButtonDriver } from './edge-driver.js';
import type { EdgeTiming } from './types.js';
import { Backoff } from '../../common/backoff.js';

const run = promisify(execFile);

export interface GpiodButtonsOptions extends EdgeTiming {
  /** The GPIO chip: "gpiochip0" on a Pi 5 with kernel 6.6+ (the RP1 header; "gpiochip4" before), a number or a path. */
  chip: string;
  /** Line offsets on that chip (the BCM numbers of the header), one per button, left to right. */
  pins: number[];
  /** The libgpiod tools; "gpiomon"/"gpioget" on PATH by default. */
  gpiomon?: string;
  gpioget?: string;
  /** Restart delay after gpiomon exits unexpectedly (ms, with backoff). */
  restartBaseMs?: number;
}

export const GPIOD_LOST = 'gpiod-lost';

/**
 * Buttons through libgpiod's `gpiomon` tool (Debian package `gpiod`): the way on a Pi 5 and on
 * systems without sysfs GPIO, where onoff and pigpio do not work. gpiomon requests the lines
 * with pull-up bias and active-low, and prints one line per edge in a format we give it:
 * libgpiod v1 (Debian 12): `-F "%o %e %s.%n"` → "17 1 1700000000.123456789" (1: rising = pressed);
 * libgpiod v2 (Debian 13): `--format "%o %E %S"` → "17 rising 1700000000.123456789".
 * Edges go to the shared debouncer. If gpiomon dies (line busy, chip gone) the driver reports
 * "gpiod-lost" and starts it again with backoff.
 */
export class GpiodButtons extends EdgeButtonDriver {
  readonly name = 'gpiod';
  private child: ChildProcess | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private version: 1 | 2 = 1;
  private lost = false;
  private readonly backoff: Backoff;
  private readonly offsets: Map<number, number>;

  constructor(private readonly o: GpiodButtonsOptions) {
    super(o.pins.length, o);
    this.backoff = new Backoff(o.restartBaseMs ?? 1000, 30_000);
    this.offsets = new Map(o.pins.map((p, i) => [p, i]));
  }

  private get gpiomon(): string {
    return this.o.gpiomon ?? 'gpiomon';
  }

  async start(): Promise<void> {
    this.running = true;
    const { stdout } = await run(this.gpiomon, ['--version']).catch((e: Error) => {
      throw new Error(`cannot run ${this.gpiomon} (${e.message}); install Debian's "gpiod" package`);
    });
    this.version = /v2\./.test(stdout) ? 2 : 1;
    await this.readInitialLevels();
    this.spawn();
  }

  private async readInitialLevels(): Promise<void> {
    const tool = this.o.gpioget ?? 'gpioget';
    const args =
      this.version === 1
        ? ['-l', '-B', 'pull-up', this.o.chip, ...this.o.pins.map(String)]
        : ['-c', this.o.chip, '-l', '-b', 'pull-up', '--numeric', ...this.o.pins.map(String)];
    try {
      const { stdout } = await run(tool, args, { timeout: 5000 });
      stdout
        .trim()
        .split(/\s+/)
        .forEach((v, i) => this.lines.init(i, v === '1' || v === '"active"'));
    } catch {
      // Not fatal: without the start-up levels a button held at boot is just not seen as stuck.
    }
  }

  private args(): string[] {
    const pins = this.o.pins.map(String);
    return this.version === 1
      ? ['-b', '-l', '-B', 'pull-up', '-F', '%o %e %s.%n', this.o.chip, ...pins]
      : ['-c', this.o.chip, '-l', '-b', 'pull-up', '--format', '%o %E %S', ...pins];
  }

  private spawn(): void {
    const child = spawn(this.gpiomon, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-500)));
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => this.onLine(line));
    child.on('error', (e) => (stderr += e.message));
    // A gpiomon that stays up this long after a restart has the lines again.
    const healthy = setTimeout(() => this.child === child && this.recovered(), 2000);
    child.on('close', (code, signal) => {
      clearTimeout(healthy);
      rl.close();
      if (this.child !== child) return;
      this.child = null;
      if (!this.running) return;
      this.lost = true;
      this.emit('fault', GPIOD_LOST, `${this.gpiomon} exited (${signal ?? code}): ${stderr.trim().slice(0, 200)}`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.running) this.spawn();
      }, this.backoff.next());
    });
  }

  private onLine(line: string): void {
    const m = /^(\d+)\s+(0|1|rising|falling)(?:\s+(\d+)\.(\d{1,9}))?/.exec(line.trim());
    if (!m) return void this.emit('count', 'gpiodUnparsed');
    const i = this.offsets.get(Number(m[1]));
    if (i === undefined) return;
    this.recovered();
    // The kernel's timestamp of the edge (s.ns), so bunched-up lines still debounce right.
    const at = m[3] === undefined ? undefined : Number(m[3]) * 1000 + Number(m[4]!.padEnd(9, '0')) / 1e6;
    this.lines.edge(i, m[2] === '1' || m[2] === 'rising', at);
  }

  private recovered(): void {
    if (!this.lost) return;
    this.lost = false;
    this.backoff.reset();
    this.emit('recover', GPIOD_LOST);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.lines.stop();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null && c.signalCode === null) {
      const closed = new Promise((r) => c.once('close', r));
      c.kill('SIGTERM');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }
}
