/**
 * The lowest GPIO seam this machine allows: a directory laid out like /sys/class/gpio on
 * Raspberry Pi OS Bookworm, and a stand-in for onoff's Gpio class that behaves like onoff on
 * it — lines exported by their sysfs number (chip base + offset), activeLow inverting reads,
 * writes and edges, watchers called asynchronously as epoll would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpioClass, GpioLine } from '../../../device/gpio/sysfs-chip.js';

export interface FakeChip {
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

/** A Pi 4 on Bookworm with kernel 6.6: the header chip at base 512, the expander after it. */
export const PI4_BOOKWORM: FakeChip[] = [
  { name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
  { name: 'gpiochip570', base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
];
/** A Pi 5: the RP1 header chip at 571, after the SoC's own lines. */
export const PI5_BOOKWORM: FakeChip[] = [
  { name: 'gpiochip512', base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
  { name: 'gpiochip544', base: 544, ngpio: 4, label: 'gpio-brcmstb@107d517c00' },
  { name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' },
];

export function makeSysfs(root: string, chips: FakeChip[]): string {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'export'), '');
  writeFileSync(join(root, 'unexport'), '');
  for (const c of chips) {
    mkdirSync(join(root, c.name), { recursive: true });
    writeFileSync(join(root, c.name, 'base'), `${c.base}\n`);
    writeFileSync(join(root, c.name, 'ngpio'), `${c.ngpio}\n`);
    writeFileSync(join(root, c.name, 'label'), `${c.label}\n`);
  }
  return root;
}

interface Line {
  electrical: 0 | 1;
  direction: string;
  edge: string;
  activeLow: boolean;
  watchers: ((err: Error | null | undefined, value: number) => void)[];
  exported: boolean;
  /** Every level the driver wrote, with when (performance.now()): what a logic analyser on the pin would record. */
  writes: { at: number; level: 0 | 1 }[];
}

/** The electrical side of the fake: what the test does to the wires. */
export class FakeGpioBus {
  readonly lines = new Map<number, Line>();
  readonly Gpio: GpioClass;

  constructor(
    private readonly chips: FakeChip[],
    /** Idle electrical level of inputs (pull-up: 1). */
    idle: 0 | 1 = 1,
  ) {
    const bus = this;
    this.Gpio = class implements GpioLine {
      private readonly l: Line;
      constructor(
        readonly gpio: number,
        direction: 'in' | 'out' | 'high' | 'low',
        edge: 'none' | 'rising' | 'falling' | 'both' = 'none',
        options: { activeLow?: boolean } = {},
      ) {
        if (!bus.chips.some((c) => gpio >= c.base && gpio < c.base + c.ngpio)) {
          throw Object.assign(new Error(`EINVAL: invalid argument, write (export ${gpio})`), { code: 'EINVAL' });
        }
        if (bus.lines.get(gpio)?.exported) throw Object.assign(new Error(`EBUSY: resource busy, export ${gpio}`), { code: 'EBUSY' });
        const l: Line = bus.lines.get(gpio) ?? {
          electrical: idle,
          direction,
          edge,
          activeLow: false,
          watchers: [],
          exported: true,
          writes: [],
        };
        Object.assign(l, { direction, edge, activeLow: options.activeLow ?? false, exported: true, watchers: [] });
        if (direction === 'high') l.electrical = l.activeLow ? 0 : 1;
        if (direction === 'low') l.electrical = l.activeLow ? 1 : 0;
        if (direction !== 'in') l.writes.push({ at: performance.now(), level: l.electrical });
        bus.lines.set(gpio, l);
        this.l = l;
      }
      readSync(): number {
        return this.l.activeLow ? 1 - this.l.electrical : this.l.electrical;
      }
      writeSync(value: number): void {
        if (this.l.direction === 'in') throw new Error(`EPERM: operation not permitted, write (gpio ${this.gpio} is an input)`);
        const v = value ? 1 : 0;
        this.l.electrical = (this.l.activeLow ? 1 - v : v) as 0 | 1;
        this.l.writes.push({ at: performance.now(), level: this.l.electrical });
      }
      watch(cb: (err: Error | null | undefined, value: number) => void): void {
        if (this.l.edge === 'none') throw new Error('cannot watch a line with edge "none"');
        this.l.watchers.push(cb);
      }
      unwatchAll(): void {
        this.l.watchers = [];
      }
      unexport(): void {
        this.l.exported = false;
        this.l.watchers = [];
      }
    };
  }

  /** Drives the wire of sysfs line `gpio` to `level` (0: pulled to ground, i.e. an active-low press). */
  set(gpio: number, level: 0 | 1): void {
    const l = this.lines.get(gpio);
    if (!l) throw new Error(`line ${gpio} was never exported`);
    if (l.electrical === level) return;
    l.electrical = level;
    const logical = l.activeLow ? 1 - level : level;
    const rising = logical === 1;
    if (l.edge === 'both' || (l.edge === 'rising' && rising) || (l.edge === 'falling' && !rising)) {
      for (const w of [...l.watchers]) setImmediate(() => w(null, logical));
    }
  }

  electrical(gpio: number): 0 | 1 | undefined {
    return this.lines.get(gpio)?.electrical;
  }

  /**
   * The level of output line `gpio` at `from` and how often it changed in [from, to]: the
   * record a logic analyser keeps, so a busy test process sampling late misses no edge.
   */
  trace(gpio: number, from: number, to: number): { level: 0 | 1; changes: number } {
    const writes = this.lines.get(gpio)?.writes ?? []; // in time order
    let level = writes[0]?.level ?? 0; // a line exported inside the window starts at its first level
    let changes = 0;
    for (let i = 0; i < writes.length && writes[i]!.at <= to; i++) {
      const w = writes[i]!;
      if (w.at < from) level = w.level;
      else if (i > 0 && w.level !== writes[i - 1]!.level) changes++;
    }
    return { level, changes };
  }
}
