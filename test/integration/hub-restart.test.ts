import { afterEach, describe, expect, it } from 'vitest';
import { TestHall, type TestDevice } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

/** Presses `n` times on each device, a few ms apart, while other things happen. */
async function pressSteadily(devices: TestDevice[], n: number, gapMs = 10): Promise<void> {
  for (let i = 0; i < n; i++) {
    for (const d of devices) d.rate(i % 5);
    await sleep(gapMs);
  }
}

describe.each(['SIGTERM', 'SIGKILL'] as const)(
  'the hub process stopped with %s mid-run and started again on the same database',
  (signal) => {
    it('still gets exactly 300 records to the province, none twice', async () => {
      hall = await TestHall.start({ hubAs: 'process' });
      const devices = [await hall.addDevice('01'), await hall.addDevice('02'), await hall.addDevice('03')];
      await waitFor(() => devices.every((d) => d.agent.link.connected), 'devices to connect');

      const presses = pressSteadily(devices, 100, 15);
      await waitFor(() => devices.every((d) => d.stored.length >= 30), 'some presses before the stop');
      expect(await hall.stopHubProcess(signal)).toBe(signal === 'SIGTERM' ? 0 : null);
      await sleep(300); // presses go on while the hub is down
      await hall.startHubProcess();
      await presses;

      expect(devices.flatMap((d) => d.stored)).toHaveLength(300);
      const recs = await waitFor(
        async () => {
          const r = await hall!.provinceRecords();
          return r.length >= 300 ? r : null;
        },
        'all 300 at the province',
        60_000,
      );
      await sleep(500); // a late duplicate, if any, would show up now
      const final = await hall.provinceRecords();
      expect(final).toHaveLength(300);
      const sent = new Set(devices.flatMap((d) => d.stored.map((r) => r.id)));
      expect(new Set(recs.map((r) => r.record.id))).toEqual(sent);
      const perDeviceSeq = new Set(final.map((r) => `${r.record.device}/${r.record.seq}`));
      expect(perDeviceSeq.size).toBe(300);
      await waitFor(() => devices.every((d) => d.agent.outbox.depth() === 0), 'device outboxes to drain');
    }, 120_000); // two hub process starts and 300 presses: far more than 30 s on a loaded two-core machine
  },
);
