/**
 * `haochaping device check --display epaper`: the wiring check draws every screen on the panel,
 * one after the other, each waited for (an e-paper refresh takes seconds), read back from the
 * SPI stream by the datasheet model.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { diffCount } from '../../device/display/bitmap.js';
import { demoFrames } from '../../device/display/demo-frames.js';
import { createEpaperDisplay } from '../../device/display/epaper/create.js';
import { renderBitmap } from '../../device/display/render.js';
import { startWiringCheck } from '../../device/wiring-check.js';
import { FakeEpaperPanel } from './fakes/fake-epaper.js';
import { makeSysfs, PI4_BOOKWORM } from './fakes/fake-sysfs-gpio.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-epd-check-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('device check cycles every screen on the e-paper panel, each drawn completely before the next', async () => {
  const pins = { dc: 25, rst: 17, busy: 24 };
  // A slow panel (200 ms per refresh) and a short hold: screens must still come one by one.
  const panel = new FakeEpaperPanel({ family: 'ssd', width: 400, height: 300, pins, refreshMs: 200 });
  const display = createEpaperDisplay({
    model: 'ssd1683',
    pins,
    sysfs: { sysfsRoot: makeSysfs(join(dir, 'gpio'), PI4_BOOKWORM), Gpio: panel.Gpio },
    spi: { bus: 0, device: 0, speedHz: 4_000_000, open: panel.open },
    busyPollMs: 1,
  });
  const lines: string[] = [];
  const stop = await startWiringCheck(new VirtualButtons(5), display, (l) => lines.push(l), 10);
  const frames = Object.values(demoFrames());
  try {
    await waitFor(() => lines.filter((l) => / drawn \(/.test(l)).length >= frames.length, 'every screen to be drawn', 60_000);
  } finally {
    await stop();
  }
  for (const [i, f] of frames.entries()) {
    expect(diffCount(panel.refreshes[i]!.glass, await renderBitmap(f, { width: 400, height: 300 })), `${f.screen} on the glass`).toBe(0);
  }
  expect(
    lines
      .filter((l) => / drawn \(/.test(l))
      .slice(0, frames.length)
      .map((l) => l.split(' ')[1]),
  ).toEqual(frames.map((f) => f.screen));
  expect(panel.errors).toEqual([]);
  panel.close();
}, 120_000);
