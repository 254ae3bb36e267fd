/**
 * A device whose disk fills up: the press cannot be written, so the citizen sees
 * out-of-service and no thank-you; when there is room again the device rates again, and
 * every rating it did thank reaches the province. Real process, real tmpfs with a size
 * limit, real ENOSPC from the kernel (needs root to mount; skipped otherwise).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Frame } from '../../device/display/types.js';
import type { StoredReport } from '../../simulator/devices/sim-device.js';
import { Hall } from '../../simulator/hall.js';
import { deviceSettings } from '../../simulator/sim.js';
import { silentLog } from '../helpers/log.js';
import { sleep, waitFor } from '../helpers/wait.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('disk full on a device', () => {
  let hall: Hall | null = null;
  let dir = '';
  afterEach(async () => {
    await hall?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows out-of-service instead of a thank-you while full, takes no presses, comes back by itself; thanked ratings all arrive', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-disk-'));
    hall = new Hall({
      dataDir: dir,
      devices: 1,
      processes: true,
      proxies: false,
      diskBytes: 8 * 1024 * 1024,
      settings: deviceSettings({ play: 'walk-up', speed: 1 }),
      log: silentLog(),
      progress: () => {},
    });
    await hall.start();
    const d = hall.devices[0]!;
    const disk = hall.disks.get(d.id)!;
    expect(disk).toBeDefined();
    const thanked: StoredReport[] = [];
    const frames: Frame[] = [];
    d.on('thanked', (r) => thanked.push(r));
    d.on('frame', (f) => frames.push(f));
    const pressAndSee = async (promptWithinMs = 10_000) => {
      await waitFor(() => d.frame?.screen === 'prompt', 'prompt', promptWithinMs);
      const before = frames.length;
      d.press(0);
      return waitFor(() => frames.slice(before).find((f) => f.screen === 'thanks' || f.screen === 'out-of-service'), 'answer to the press');
    };

    expect((await pressAndSee()).screen).toBe('thanks');
    disk.fill();
    expect((await pressAndSee()).screen).toBe('out-of-service');
    // While out of service, presses are not taken: nothing written, nobody thanked.
    const stored: StoredReport[] = [];
    d.on('stored', (r) => stored.push(r));
    d.press(0);
    d.press(1);
    await sleep(1500);
    expect(d.frame?.screen).toBe('out-of-service');
    expect(stored).toHaveLength(0);
    expect(thanked).toHaveLength(1);
    expect(d.alive).toBe(true); // no crash
    disk.free();
    // The device finds by itself that it can write again (a real probe write) and prompts.
    expect((await pressAndSee(45_000)).screen).toBe('thanks');
    expect((await pressAndSee()).screen).toBe('thanks');
    expect(thanked).toHaveLength(3);

    await waitFor(async () => (await hall!.provinceEntries()).length === 3, 'all three thanked ratings at the province', 30_000);
    const ids = (await hall.provinceEntries()).map((e) => e.record!.id).sort();
    expect(ids).toEqual(thanked.map((r) => r.id).sort());
  }, 90_000);
});
