import { afterEach, describe, expect, it } from 'vitest';
import type { FaultsInput } from '../../simulator/province/faults.js';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { expectEachPressOnce, pressSteadily, queueStates, seeded } from './helpers.js';

/**
 * 30 % of pushes fail in each way a province can fail. `npm test` runs a bounded version;
 * `npm run test:faults` runs it with HCP_FAULT_PRESSES=500 presses per device.
 */
const PRESSES = Number(process.env.HCP_FAULT_PRESSES ?? 40);
const TIMEOUT_MS = 300;
const BATCH = 5;

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

const MODES: [mode: keyof FaultsInput, faults: FaultsInput, storesBeforeFailing: boolean][] = [
  ['error500', { error500: 0.3 }, false],
  ['timeout', { timeout: 0.3 }, false],
  // Slower than the hub waits: stored, but the answer comes too late.
  ['slow', { slow: 0.3, slowMs: TIMEOUT_MS * 2 }, true],
  ['drop', { drop: 0.3 }, true],
  ['throttle', { throttle: 0.3, retryAfterS: 1 }, false],
];

describe.each(MODES)('30 %% of pushes failing with %s', (mode, faults, storesBeforeFailing) => {
  it(
    'everything is delivered; accepted equals rated; copies received twice are counted, none accepted twice',
    { timeout: 60_000 + PRESSES * 600 },
    async () => {
      hall = await TestHall.start({
        province: { faults, random: seeded(2026) },
        forward: { batchSize: BATCH, lingerMs: 5, timeoutMs: TIMEOUT_MS, retry: { baseMs: 20, maxMs: 250 } },
      });
      const devices = [await hall.addDevice('01'), await hall.addDevice('02')];
      await waitFor(() => devices.every((d) => d.agent.link.connected), 'devices to connect');
      await pressSteadily(devices, PRESSES, 10);
      const rated = devices.flatMap((d) => d.stored);
      expect(rated).toHaveLength(2 * PRESSES);

      await waitFor(() => queueStates(hall!.hub!.db).done === rated.length, `all ${rated.length} accepted`, 30_000 + PRESSES * 500);
      await sleep(TIMEOUT_MS * 3); // slow answers still on their way land now, as duplicates if anything
      await expectEachPressOnce(hall, rated);

      const s = hall.province.stats();
      expect(s.accepted).toBe(rated.length);
      expect(s.faults[mode]).toBeGreaterThan(0);
      expect(s.received).toBe(s.accepted + s.duplicatesReceived + s.rejected);
      expect(s.rejected).toBe(0);
      const failures = await hall.hub!.metrics.forwardFailures.get();
      expect(failures.values.reduce((n, v) => n + v.value, 0)).toBeGreaterThan(0);
      // Where the province stored before failing, the hub had to send again: at-least-once on the wire.
      // Otherwise a copy arrives twice only after the hub stopped waiting for an answer (a batch
      // the province was still storing when the hub's timeout fired, e.g. on a loaded machine).
      const timedOutBatches = failures.values.filter((v) => v.labels.kind === 'timeout').reduce((n, v) => n + v.value, 0);
      if (storesBeforeFailing) expect(s.duplicatesReceived).toBeGreaterThan(0);
      else expect(s.duplicatesReceived).toBeLessThanOrEqual(timedOutBatches * BATCH);
      expect(queueStates(hall.hub!.db)).toEqual({ done: rated.length });
      if (process.env.HCP_FAULT_PRESSES) console.info(`${mode}: rated ${rated.length}, province ${JSON.stringify(s)}`);
    },
  );
});
