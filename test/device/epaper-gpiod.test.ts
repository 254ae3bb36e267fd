/**
 * The e-paper control lines through the libgpiod tools (Pi 5 / Trixie, no sysfs GPIO): fake
 * `gpioset`/`gpioget` programs that behave like libgpiod v1's (lines exclusive, held until
 * SIGTERM). DC and RST changes each become one gpioset holding both lines; BUSY is read with
 * gpioget.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { GpiodPanelPins } from '../../device/display/epaper/pins.js';

const FAKE = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/fake-gpiod');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-epd-gpiod-'));
  process.env.FAKE_GPIOSET_LOG = join(dir, 'gpioset.log');
});
afterEach(() => {
  delete process.env.FAKE_GPIOSET_LOG;
  delete process.env.FAKE_GPIOD_LEVELS;
  rmSync(dir, { recursive: true, force: true });
});

it('libgpiod v1: each DC/RST change is one gpioset run to completion with both levels; BUSY is read with gpioget', async () => {
  const pins = await GpiodPanelPins.open(
    { dc: 25, rst: 17, busy: 24 },
    { chip: 'gpiochip0', gpioset: join(FAKE, 'gpioset'), gpioget: join(FAKE, 'gpioget') },
  );
  await pins.setRst(0);
  await pins.setRst(1);
  await pins.setDc(1);
  await pins.setDc(1); // no change: no new process
  process.env.FAKE_GPIOD_LEVELS = '24=1';
  expect(await pins.busy()).toBe(1);
  process.env.FAKE_GPIOD_LEVELS = '24=0';
  expect(await pins.busy()).toBe(0);
  await pins.close();
  const starts = readFileSync(join(dir, 'gpioset.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').slice(1).join(' '));
  expect(starts).toEqual(['25=0 17=1', '25=0 17=0', '25=0 17=1', '25=1 17=1']);
  expect(existsSync(join(dir, 'gpioset.log.lock'))).toBe(false);
});

it('libgpiod v2: one gpioset holds both lines at a time; the next starts only after the old one let go; close releases them', async () => {
  process.env.FAKE_GPIOD_VERSION = '2';
  try {
    const pins = await GpiodPanelPins.open({ dc: 25, rst: 17, busy: 24 }, { chip: 'gpiochip0', gpioset: join(FAKE, 'gpioset') });
    await pins.setRst(0);
    await pins.setRst(1);
    await pins.setDc(1);
    expect(existsSync(join(dir, 'gpioset.log.lock'))).toBe(true); // held
    await pins.close();
    const starts = readFileSync(join(dir, 'gpioset.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(1).join(' '));
    // Every start succeeded (a busy line would have failed it), each after its banner, in order.
    expect(starts).toEqual(['25=0 17=1', '25=0 17=0', '25=0 17=1', '25=1 17=1']);
    expect(existsSync(join(dir, 'gpioset.log.lock'))).toBe(false);
  } finally {
    delete process.env.FAKE_GPIOD_VERSION;
  }
});

it('without the gpiod tools it says which package to install', async () => {
  await expect(GpiodPanelPins.open({ dc: 25, rst: 17, busy: 24 }, { chip: 'gpiochip0', gpioset: join(dir, 'no-gpioset') })).rejects.toThrow(
    /install Debian's "gpiod" package/,
  );
});
