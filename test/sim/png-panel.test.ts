/**
 * One renderer: the simulator's saved PNG of a screen and the bitmap the e-paper panel shows for
 * the same screen are the same image. The PNG is decoded with pngjs (an independent decoder); the
 * panel's image is what a UC8179 model reconstructs from the SPI bytes the real driver sent.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blank, diffCount, inkCount, setPixel, type Bitmap } from '../../device/display/bitmap.js';
import { demoFrames } from '../../device/display/demo-frames.js';
import { createEpaperDisplay } from '../../device/display/epaper/create.js';
import type { EpaperDisplay } from '../../device/display/epaper/epaper.js';
import type { Screen } from '../../device/display/types.js';
import { savePanelPng, SIM_PANEL } from '../../simulator/interactive/png.js';
import { FakeEpaperPanel } from '../device/fakes/fake-epaper.js';
import { makeSysfs, PI4_BOOKWORM } from '../device/fakes/fake-sysfs-gpio.js';

const FRAMES = demoFrames();
let dir: string;
let panel: FakeEpaperPanel;
let display: EpaperDisplay;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-png-panel-'));
  const pins = { dc: 25, rst: 17, busy: 24 };
  panel = new FakeEpaperPanel({ family: 'uc', width: 800, height: 480, pins });
  display = createEpaperDisplay({
    model: 'uc8179',
    pins,
    sysfs: { sysfsRoot: makeSysfs(join(dir, 'gpio'), PI4_BOOKWORM), Gpio: panel.Gpio },
    spi: { bus: 0, device: 0, speedHz: 8_000_000, open: panel.open },
    busyPollMs: 1,
  });
  await display.start();
}, 60_000);
afterAll(async () => {
  await display.stop();
  panel.close();
  rmSync(dir, { recursive: true, force: true });
});

function decodePng(file: string): Bitmap {
  const png = PNG.sync.read(readFileSync(file));
  const b = blank(png.width, png.height);
  for (let y = 0; y < png.height; y++) for (let x = 0; x < png.width; x++) setPixel(b, x, y, png.data[(y * png.width + x) * 4]! < 128);
  return b;
}

describe('the simulator PNG is the panel bitmap', () => {
  for (const screen of Object.keys(FRAMES) as Screen[]) {
    it(`${screen}: the saved PNG and the e-paper glass are identical`, async () => {
      display.show(FRAMES[screen]);
      await display.idle();
      const file = join(dir, `${screen}.png`);
      await savePanelPng(FRAMES[screen], file);
      const png = decodePng(file);
      expect([png.width, png.height]).toEqual([SIM_PANEL.width, SIM_PANEL.height]);
      expect(inkCount(png)).toBeGreaterThan(500); // something is drawn
      expect(diffCount(png, panel.glass)).toBe(0);
      expect(panel.errors).toEqual([]);
    }, 60_000);
  }
});
