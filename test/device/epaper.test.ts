/**
 * The SPI e-paper drivers at the lowest seam: the real driver, the real SpiPort and onoff-style
 * sysfs lines; only spidev and the GPIO wires are fake (fakes/fake-epaper.ts), and a controller
 * model written from the datasheets replays every byte into the glass. Each screen on the glass
 * must be exactly the renderer's bitmap — for both controller families, after full and after
 * partial refreshes — and BUSY stuck must become a fault that a reset clears.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blank, diffCount, getPixel, setPixel, toNative, type Rotation } from '../../device/display/bitmap.js';
import { demoFrames } from '../../device/display/demo-frames.js';
import { createEpaperDisplay } from '../../device/display/epaper/create.js';
import { DISPLAY_BUSY_TIMEOUT, type EpaperDisplay, type EpaperModel, type RefreshInfo } from '../../device/display/epaper/epaper.js';
import { renderBitmap } from '../../device/display/render.js';
import type { Frame, Screen } from '../../device/display/types.js';
import { makeSysfs, PI4_BOOKWORM } from './fakes/fake-sysfs-gpio.js';
import { FakeEpaperPanel } from './fakes/fake-epaper.js';
import { waitFor } from '../helpers/wait.js';

const FRAMES = demoFrames();
const PINS = { dc: 25, rst: 17, busy: 24 };
const SPEED = 4_000_000;

interface Variant {
  model: EpaperModel;
  width: number;
  height: number;
  rotation: Rotation;
}
const VARIANTS: Record<string, Variant> = {
  'SSD1683 4.2" 400×300': { model: 'ssd1683', width: 400, height: 300, rotation: 0 },
  'SSD1680 2.13" 122×250 turned 90°': { model: 'ssd1680', width: 122, height: 250, rotation: 90 },
  'UC8179 7.5" 800×480': { model: 'uc8179', width: 800, height: 480, rotation: 0 },
  'UC8179 7.5" 800×480 upside down': { model: 'uc8179', width: 800, height: 480, rotation: 180 },
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-epd-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function rig(
  v: Variant,
  extra: { busyTimeoutMs?: number; retryMs?: number; fullEvery?: number; largeType?: boolean } = {},
): { panel: FakeEpaperPanel; display: EpaperDisplay } {
  const panel = new FakeEpaperPanel({ family: v.model === 'uc8179' ? 'uc' : 'ssd', width: v.width, height: v.height, pins: PINS });
  const root = makeSysfs(join(dir, `gpio-${Math.random()}`), PI4_BOOKWORM);
  const display = createEpaperDisplay({
    model: v.model,
    width: v.width,
    height: v.height,
    rotation: v.rotation,
    largeType: extra.largeType,
    pins: PINS,
    sysfs: { sysfsRoot: root, Gpio: panel.Gpio },
    spi: { bus: 0, device: 0, speedHz: SPEED, open: panel.open },
    busyTimeoutMs: extra.busyTimeoutMs ?? 2000,
    busyPollMs: 1,
    retryMs: extra.retryMs ?? 50,
    fullEvery: extra.fullEvery,
  });
  return { panel, display };
}

async function expected(f: Frame, v: Variant, largeType = false) {
  const size = v.rotation === 90 || v.rotation === 270 ? { width: v.height, height: v.width } : { width: v.width, height: v.height };
  return toNative(await renderBitmap(f, { ...size, largeType }), v.rotation);
}

async function showAndSettle(display: EpaperDisplay, f: Frame): Promise<void> {
  display.show(f);
  await display.idle();
}

for (const [name, v] of Object.entries(VARIANTS)) {
  describe(`e-paper ${name}`, () => {
    it('full refresh: each screen decoded from the SPI stream is the renderer’s bitmap, pixel for pixel', async () => {
      for (const screen of Object.keys(FRAMES) as Screen[]) {
        const { panel, display } = rig(v);
        await display.start();
        await showAndSettle(display, FRAMES[screen]);
        expect(panel.errors).toEqual([]);
        expect(panel.refreshes.map((r) => r.kind)).toEqual(['full']);
        const want = await expected(FRAMES[screen], v);
        expect(diffCount(panel.glass, want), `${screen}: pixels that differ`).toBe(0);
        await display.stop();
        panel.close();
      }
    }, 120_000);

    it('partial refresh: prompt → reasons → a reason ticked → thanks update only what changed, and the glass is still exactly the bitmap', async () => {
      const { panel, display } = rig(v);
      await display.start();
      const ticked: Frame =
        FRAMES.reasons.screen === 'reasons'
          ? { ...FRAMES.reasons, options: FRAMES.reasons.options.map((o, i) => (i === 1 ? { ...o, selected: true } : o)) }
          : FRAMES.reasons;
      const seq: Frame[] = [FRAMES.idle, FRAMES.prompt, FRAMES.reasons, ticked, FRAMES.thanks];
      for (const f of seq) {
        await showAndSettle(display, f);
        expect(diffCount(panel.glass, await expected(f, v)), `${f.screen}: pixels that differ`).toBe(0);
      }
      expect(panel.errors).toEqual([]);
      expect(panel.refreshes.map((r) => r.kind)).toEqual(['full', 'partial', 'partial', 'partial', 'partial']);
      // Ticking one reason box sends a window around the box, not the whole frame.
      const tick = panel.refreshes[3]!.window;
      if (v.model === 'uc8179') expect((tick.x1 - tick.x0 + 1) * (tick.y1 - tick.y0 + 1)).toBeLessThan((v.width * v.height) / 10);
      await display.stop();
      panel.close();
    }, 120_000);

    it('transfers are at most spidev’s 4096 bytes, at the declared clock, and every byte goes in after a hardware reset', async () => {
      const { panel, display } = rig(v);
      await display.start();
      await showAndSettle(display, FRAMES.reasons);
      expect(panel.errors).toEqual([]);
      expect(panel.maxTransfer).toBeLessThanOrEqual(4096);
      const frameBytes = Math.ceil(v.width / 8) * v.height;
      if (frameBytes > 4096) expect(panel.transfers).toBeGreaterThan(frameBytes / 4096);
      expect(panel.journal.filter((e) => 'spi' in e).every((e) => 'spi' in e && e.speedHz === SPEED)).toBe(true);
      const firstReset = panel.journal.findIndex((e) => 'line' in e && e.line === 'rst' && e.value === 0);
      const firstSpi = panel.journal.findIndex((e) => 'spi' in e);
      expect(firstReset).toBeGreaterThanOrEqual(0);
      expect(firstReset).toBeLessThan(firstSpi);
      await display.stop();
      panel.close();
    });
  });
}

describe('e-paper refresh policy', () => {
  const v = VARIANTS['SSD1683 4.2" 400×300']!;

  it('the staff card, paused and out-of-service always get a full refresh; after N partial updates the next one is full (ghosting)', async () => {
    const { panel, display } = rig(v, { fullEvery: 2 });
    await display.start();
    const kinds: RefreshInfo[] = [];
    display.on('refreshed', (r) => kinds.push(r));
    const ticked = (i: number): Frame =>
      FRAMES.reasons.screen === 'reasons'
        ? { ...FRAMES.reasons, options: FRAMES.reasons.options.map((o, j) => (j === i ? { ...o, selected: true } : o)) }
        : FRAMES.reasons;
    for (const f of [
      FRAMES.idle,
      FRAMES.prompt,
      FRAMES.reasons,
      ticked(1),
      ticked(2),
      FRAMES.paused,
      FRAMES['out-of-service'],
      FRAMES.idle,
    ])
      await showAndSettle(display, f);
    expect(kinds.map((k) => `${k.screen}:${k.kind}`)).toEqual([
      'idle:full',
      'prompt:partial',
      'reasons:partial',
      'reasons:full',
      'reasons:partial',
      'paused:full',
      'out-of-service:full',
      'idle:full',
    ]);
    expect(panel.errors).toEqual([]);
    await display.stop();
    panel.close();
  }, 120_000);

  it('the same frame twice sends nothing the second time', async () => {
    const { panel, display } = rig(v);
    await display.start();
    await showAndSettle(display, FRAMES.idle);
    await showAndSettle(display, FRAMES.prompt);
    const n = panel.refreshes.length;
    await showAndSettle(display, FRAMES.prompt);
    expect(panel.refreshes.length).toBe(n);
    await display.stop();
    panel.close();
  });

  it('show() returns at once while the panel is busy refreshing, and only the newest frame is drawn next', async () => {
    const panel = new FakeEpaperPanel({ family: 'ssd', width: 400, height: 300, pins: PINS, refreshMs: 300 });
    const root = makeSysfs(join(dir, 'gpio-slow'), PI4_BOOKWORM);
    const display = createEpaperDisplay({
      model: 'ssd1683',
      pins: PINS,
      sysfs: { sysfsRoot: root, Gpio: panel.Gpio },
      spi: { bus: 0, device: 0, speedHz: SPEED, open: panel.open },
      busyPollMs: 1,
    });
    await display.start();
    display.show(FRAMES.idle);
    await waitFor(() => panel.refreshes.length === 1, 'the first refresh to start', 5000);
    const t0 = performance.now();
    for (const f of [FRAMES.prompt, FRAMES.reasons, FRAMES.thanks]) display.show(f);
    expect(performance.now() - t0).toBeLessThan(20);
    await display.idle();
    expect(panel.refreshes.length).toBe(2);
    expect(diffCount(panel.glass, await expected(FRAMES.thanks, { model: 'ssd1683', width: 400, height: 300, rotation: 0 }))).toBe(0);
    await display.stop();
    panel.close();
  });

  it('large type renders the same screens bigger, and the panel shows that bitmap', async () => {
    const { panel, display } = rig(v, { largeType: true });
    await display.start();
    await showAndSettle(display, FRAMES.prompt);
    const big = await expected(FRAMES.prompt, v, true);
    expect(diffCount(panel.glass, big)).toBe(0);
    expect(diffCount(big, await expected(FRAMES.prompt, v, false))).toBeGreaterThan(1000);
    await display.stop();
    panel.close();
  });

  it('stop puts the controller in deep sleep (SSD: 0x10 0x01; UC8179: power off, 0x07 0xA5)', async () => {
    for (const model of ['ssd1683', 'uc8179'] as const) {
      const vv = model === 'uc8179' ? VARIANTS['UC8179 7.5" 800×480']! : v;
      const { panel, display } = rig(vv);
      await display.start();
      await showAndSettle(display, FRAMES.idle);
      await display.stop();
      const cmds = panel.commands();
      expect(cmds.slice(model === 'uc8179' ? -2 : -1)).toEqual(model === 'uc8179' ? [0x02, 0x07] : [0x10]);
      panel.close();
    }
  });
});

describe('e-paper BUSY', () => {
  for (const [name, v] of [
    ['SSD1683 (BUSY high while busy)', VARIANTS['SSD1683 4.2" 400×300']!],
    ['UC8179 (BUSY low while busy)', VARIANTS['UC8179 7.5" 800×480']!],
  ] as const) {
    it(`${name}: stuck past its timeout raises display-busy-timeout; a hardware reset recovers and the newest frame is drawn`, async () => {
      const { panel, display } = rig(v, { busyTimeoutMs: 150, retryMs: 30 });
      const faults: string[] = [];
      const recovered: string[] = [];
      display.on('fault', (f) => faults.push(f));
      display.on('recover', (f) => recovered.push(f));
      await display.start();
      await showAndSettle(display, FRAMES.idle);
      const before = panel.refreshes.length;
      panel.stuck = true;
      display.show(FRAMES.prompt);
      await waitFor(() => faults.includes(DISPLAY_BUSY_TIMEOUT), 'the busy-timeout fault', 5000);
      panel.stuck = false;
      display.show(FRAMES.thanks);
      await waitFor(() => recovered.includes(DISPLAY_BUSY_TIMEOUT), 'the fault to clear', 5000);
      await display.idle();
      expect(faults).toEqual([DISPLAY_BUSY_TIMEOUT]);
      const resets = panel.journal.filter((e) => 'line' in e && e.line === 'rst' && e.value === 0).length;
      expect(resets).toBeGreaterThanOrEqual(2);
      // The refresh that got stuck, then recovery: reset, init, and a full refresh first.
      expect(panel.refreshes[before + 1]!.kind).toBe('full');
      expect(diffCount(panel.glass, await expected(FRAMES.thanks, v))).toBe(0);
      await display.stop();
      panel.close();
    });
  }
});

describe('bitmap rotation', () => {
  it('turned 90° clockwise, the logical top-left pixel lands at the native top-right', () => {
    const b = blank(20, 10);
    setPixel(b, 0, 0, true);
    setPixel(b, 19, 9, true);
    const n = toNative(b, 90);
    expect([n.width, n.height]).toEqual([10, 20]);
    expect(getPixel(n, 9, 0)).toBe(true);
    expect(getPixel(n, 0, 19)).toBe(true);
    const u = toNative(b, 180);
    expect(getPixel(u, 19, 9)).toBe(true);
    expect(getPixel(u, 0, 0)).toBe(true);
    const w = toNative(b, 270);
    expect(getPixel(w, 0, 19)).toBe(true);
  });
});
