import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerChip, sysfsLine } from '../../device/gpio/sysfs-chip.js';
import { OnoffButtons } from '../../device/buttons/gpio-onoff.js';
import { FakeGpioBus, makeSysfs, PI4_BOOKWORM, PI5_BOOKWORM } from './fakes/fake-sysfs-gpio.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-gpio-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('sysfs GPIO numbering on Raspberry Pi OS Bookworm (kernel 6.6+)', () => {
  it('finds the header chip by its label and uses its base: BCM 17 is sysfs 529 on a Pi 4', () => {
    const chip = headerChip({ root: makeSysfs(join(dir, 'pi4'), PI4_BOOKWORM) });
    expect(chip).toMatchObject({ name: 'gpiochip512', base: 512, label: 'pinctrl-bcm2711' });
    expect(sysfsLine(chip, 17)).toBe(529);
  });

  it('on a Pi 5 the header is the RP1 chip at base 571, not the first chip', () => {
    const chip = headerChip({ root: makeSysfs(join(dir, 'pi5'), PI5_BOOKWORM) });
    expect(chip).toMatchObject({ base: 571, label: 'pinctrl-rp1' });
    expect(sysfsLine(chip, 17)).toBe(588);
  });

  it('an older kernel with the chip at base 0 works the same way', () => {
    const chip = headerChip({ root: makeSysfs(join(dir, 'old'), [{ name: 'gpiochip0', base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]) });
    expect(sysfsLine(chip, 17)).toBe(17);
  });

  it('an unknown board says which chips it found and how to choose one', () => {
    const root = makeSysfs(join(dir, 'other'), [{ name: 'gpiochip300', base: 300, ngpio: 32, label: 'sunxi-pio' }]);
    expect(() => headerChip({ root })).toThrow(/gpiochip300 "sunxi-pio" base 300.*--gpio-chip/);
    expect(headerChip({ root, label: 'sunxi-pio' }).base).toBe(300);
  });

  it('a GPIO number the chip does not have is refused', () => {
    const chip = headerChip({ root: makeSysfs(join(dir, 'pi4'), PI4_BOOKWORM) });
    expect(() => sysfsLine(chip, 58)).toThrow(/not a line of gpiochip512/);
  });

  it('the onoff button driver exports base + offset, as inputs watching both edges, active low', async () => {
    const root = makeSysfs(join(dir, 'pi5'), PI5_BOOKWORM);
    const bus = new FakeGpioBus(PI5_BOOKWORM);
    const d = new OnoffButtons({ pins: [17, 27, 22], sysfsRoot: root, Gpio: bus.Gpio, debounceMs: 5 });
    const presses: number[] = [];
    d.on('press', (b) => presses.push(b));
    await d.start();
    expect([...bus.lines.entries()].map(([n, l]) => [n, l.direction, l.edge, l.activeLow])).toEqual([
      [588, 'in', 'both', true],
      [598, 'in', 'both', true],
      [593, 'in', 'both', true],
    ]);
    bus.set(598, 0);
    await waitFor(() => presses.length === 1, 'the press');
    expect(presses).toEqual([1]);
    await d.stop();
    expect([...bus.lines.values()].every((l) => !l.exported)).toBe(true);
  });
});
