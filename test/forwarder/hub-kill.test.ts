import { afterEach, describe, expect, it } from 'vitest';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { expectEachPressOnce, pressSteadily } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

describe('the hub process killed with SIGKILL in the middle of a batch, and started again', () => {
  it('loses nothing and has nothing accepted twice: the batch the province stored is sent again and answered "duplicate"', async () => {
    // Every push is stored by the province and answered only 4 s later: a batch is surely in flight.
    hall = await TestHall.start({
      hubAs: 'process',
      province: { faults: { slow: 1, slowMs: 4000 } },
      hubArgs: ['--province-batch-size', '40', '--province-timeout-ms', '20000', '--province-retry-max-ms', '500'],
    });
    const devices = [await hall.addDevice('01'), await hall.addDevice('02')];
    await waitFor(() => devices.every((d) => d.agent.link.connected), 'devices to connect');
    await pressSteadily(devices, 30, 10);
    const rated = devices.flatMap((d) => d.stored);
    expect(rated).toHaveLength(60);

    await waitFor(() => {
      const s = hall!.province.stats();
      return s.inFlight >= 1 && s.accepted > 0;
    }, 'a batch stored at the province and its answer still pending');
    const storedBeforeKill = hall.province.stats().accepted;
    expect(await hall.stopHubProcess('SIGKILL')).toBeNull();
    expect(storedBeforeKill).toBeGreaterThan(0);
    expect(storedBeforeKill).toBeLessThan(60);

    hall.province.setFaults({}); // the province is quick again
    await hall.startHubProcess();
    await waitFor(() => devices.every((d) => d.agent.outbox.depth() === 0), 'devices to deliver what the dead hub had not stored', 30_000);
    await waitFor(() => hall!.province.stats().accepted === 60, 'all 60 at the province', 30_000);
    await waitFor(
      async () => (await hall!.api<{ backlog: { count: number }; done: number }>('/api/forwarding')).done === 60,
      'the hub to mark all 60 forwarded',
    );
    await sleep(300);

    await expectEachPressOnce(hall, rated);
    const s = hall.province.stats();
    expect(s.accepted).toBe(60);
    // What was in flight came again after the restart — received twice, accepted once.
    expect(s.duplicatesReceived).toBeGreaterThanOrEqual(storedBeforeKill);
    expect(s.received).toBe(s.accepted + s.duplicatesReceived);
  }, 90_000); // a hub process killed and started again
});
