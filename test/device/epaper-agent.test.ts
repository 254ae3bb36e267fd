/**
 * The panel never holds up a rating: with the e-paper controller stuck BUSY (a refresh that
 * never ends), presses are still written durably and at once; the agent reports
 * display-busy-timeout, and once the controller answers again (after the driver's reset) the
 * fault clears and the newest screen is drawn.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Agent } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { diffCount } from '../../device/display/bitmap.js';
import { createEpaperDisplay } from '../../device/display/epaper/create.js';
import { DISPLAY_BUSY_TIMEOUT } from '../../device/display/epaper/epaper.js';
import { renderBitmap } from '../../device/display/render.js';
import type { Frame } from '../../device/display/types.js';
import { CONFIG_CACHE_FILE, ENROLMENT_FILE } from '../../device/enrolment/enrolment.js';
import { defaultDeviceConfig } from '../../protocol/index.js';
import { freePort } from '../../simulator/processes.js';
import { silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';
import { FakeEpaperPanel } from './fakes/fake-epaper.js';
import { makeSysfs, PI4_BOOKWORM } from './fakes/fake-sysfs-gpio.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'hcp-epd-agent-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

it('a stuck panel delays no rating: each press is on disk within milliseconds; display-busy-timeout is reported and cleared after recovery', async () => {
  const dir = join(root, 'd');
  mkdirSync(dir);
  writeFileSync(
    join(dir, ENROLMENT_FILE),
    JSON.stringify({
      hall: 'h1',
      device: 'ev-1',
      window: '12',
      hubUrl: 'http://127.0.0.1:1',
      mqttUrl: `mqtt://127.0.0.1:${await freePort()}`,
      username: 'ev-1',
      password: 'x',
      ca: null,
      enrolledAt: 0,
    }),
  );
  const c = { ...defaultDeviceConfig('h1', 'ev-1', '12'), mode: 'walk-up' as const };
  c.timeouts = { ...c.timeouts, repeatIntervalS: 0, tooSoonS: 0, thanksS: 0.05 };
  writeFileSync(join(dir, CONFIG_CACHE_FILE), JSON.stringify(c));

  const pins = { dc: 25, rst: 17, busy: 24 };
  const panel = new FakeEpaperPanel({ family: 'uc', width: 800, height: 480, pins });
  const display = createEpaperDisplay({
    model: 'uc8179',
    pins,
    sysfs: { sysfsRoot: makeSysfs(join(root, 'gpio'), PI4_BOOKWORM), Gpio: panel.Gpio },
    spi: { bus: 0, device: 0, speedHz: 4_000_000, open: panel.open },
    busyPollMs: 1,
    busyTimeoutMs: 300,
    retryMs: 100,
  });
  const buttons = new VirtualButtons(5, { debounceMs: 5, stuckMs: 200 });
  const agent = Agent.open({
    dataDir: dir,
    buttons,
    display,
    log: silentLog(),
    clockSynced: () => true,
    tickMs: 20,
    link: { backoff: undefined },
  });
  const stored: number[] = [];
  let lastFrame: Frame | null = null;
  agent.on('frame', (f) => (lastFrame = f));
  agent.on('stored', () => stored.push(performance.now()));
  await agent.start();
  try {
    await display.idle();
    panel.stuck = true;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      buttons.press(i % 3); // good levels: recorded at once, no reasons page
      await waitFor(() => stored.length === i + 1, `rating ${i + 1} stored`, 5000);
      // Stored within the debounce plus a little, not after a refresh of seconds.
      expect(stored[i]! - t0).toBeLessThan(250);
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(agent.outbox.depth()).toBe(5);
    await waitFor(() => agent.faults.has(DISPLAY_BUSY_TIMEOUT), 'display-busy-timeout', 5000);
    panel.stuck = false;
    await waitFor(() => !agent.faults.has(DISPLAY_BUSY_TIMEOUT), 'the fault to clear', 10_000);
    await display.idle();
    expect(panel.errors).toEqual([]);
  } finally {
    await agent.stop();
    panel.close();
  }
  // The glass ends on the prompt the agent shows now.
  expect(panel.refreshes.at(-1)!.glass.width).toBe(800);
  expect(lastFrame!.screen).toBe('prompt');
  const want = await renderBitmap(lastFrame!, { width: 800, height: 480 });
  expect(diffCount(panel.glass, want)).toBe(0);
}, 60_000);
