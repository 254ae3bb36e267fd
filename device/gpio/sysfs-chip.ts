import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the kernel's sysfs GPIO lives; a test points this at a directory of fake files. */
export const SYSFS_GPIO = '/sys/class/gpio';

/**
 * Labels of the chip that carries the 40-pin header: Pi 3 / Zero 2 W (bcm2835), Pi 4
 * (bcm2711), Pi 5 (rp1; bcm2712 for the SoC's own lines). The expander that drives the
 * power LED and camera lines ("raspberrypi-exp-gpio") is never the one.
 */
export const HEADER_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835', 'pinctrl-bcm2712'];

export interface SysfsChip {
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

export class GpioSetupError extends Error {
  override readonly name = 'GpioSetupError';
}

export function listSysfsChips(root = SYSFS_GPIO): SysfsChip[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => /^gpiochip\d+$/.test(n))
    .map((name) => {
      const read = (f: string) => readFileSync(join(root, name, f), 'utf8').trim();
      return { name, base: Number(read('base')), ngpio: Number(read('ngpio')), label: read('label') };
    })
    .sort((a, b) => a.base - b.base);
}

/**
 * The sysfs base of the header's GPIO chip. On Raspberry Pi OS Bookworm (kernel 6.6+) it is
 * 512 or more (571 on a Pi 5), no longer 0, so BCM 17 is sysfs line 529 on a chip based at
 * 512. Look it up every start; never hard-code it.
 */
export function headerChip(opts: { root?: string; label?: string } = {}): SysfsChip {
  const root = opts.root ?? SYSFS_GPIO;
  if (!existsSync(root)) {
    throw new GpioSetupError(
      `${root} does not exist: this system has no sysfs GPIO (a Pi 5 or a newer OS?). Use --buttons gpiod (libgpiod) instead.`,
    );
  }
  const chips = listSysfsChips(root);
  const wanted = opts.label ? [opts.label] : HEADER_CHIP_LABELS;
  for (const label of wanted) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return chip;
  }
  const found = chips.map((c) => `${c.name} "${c.label}" base ${c.base}`).join(', ') || 'none';
  throw new GpioSetupError(
    `no GPIO chip labelled ${wanted.map((l) => `"${l}"`).join(' or ')} in ${root} (found: ${found}); pass --gpio-chip <label>`,
  );
}

/** The sysfs line number of header GPIO `offset` (the BCM number). */
export function sysfsLine(chip: SysfsChip, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset >= chip.ngpio) {
    throw new GpioSetupError(`GPIO ${offset} is not a line of ${chip.name} "${chip.label}" (it has ${chip.ngpio} lines)`);
  }
  return chip.base + offset;
}

/** The part of onoff's Gpio class the drivers use: injected, so tests fake it at this seam. */
export interface GpioLine {
  readSync(): number;
  writeSync(value: number): void;
  watch(callback: (err: Error | null | undefined, value: number) => void): void;
  unwatchAll(): void;
  unexport(): void;
}
export type GpioClass = new (
  line: number,
  direction: 'in' | 'out' | 'high' | 'low',
  edge?: 'none' | 'rising' | 'falling' | 'both',
  options?: { activeLow?: boolean; debounceTimeout?: number; reconfigureDirection?: boolean },
) => GpioLine;

/** onoff's Gpio, loaded only when a GPIO driver starts (it needs sysfs and its native epoll). */
export async function onoffGpio(): Promise<GpioClass> {
  const { Gpio } = await import('onoff');
  if (!Gpio.accessible)
    throw new GpioSetupError(`${SYSFS_GPIO} is not accessible: run as a user in the "gpio" group, or use --buttons gpiod`);
  return Gpio as unknown as GpioClass;
}

/** How a driver reaches sysfs GPIO: all optional on a Pi; tests point them at fakes. */
export interface SysfsGpioOptions {
  /** Label of the GPIO chip, when it is not one of the Pi's known header chips. */
  chipLabel?: string;
  /** The sysfs GPIO directory (tests point it at fake files). */
  sysfsRoot?: string;
  /** onoff's Gpio class (tests inject a fake with the same surface). */
  Gpio?: GpioClass;
}

/** The Gpio class and the sysfs line numbers of header GPIOs `pins` (BCM numbers). */
export async function sysfsLines(o: SysfsGpioOptions, pins: number[]): Promise<{ Gpio: GpioClass; lines: number[] }> {
  const Gpio = o.Gpio ?? (await onoffGpio());
  const chip = headerChip({ root: o.sysfsRoot, label: o.chipLabel });
  return { Gpio, lines: pins.map((pin) => sysfsLine(chip, pin)) };
}
