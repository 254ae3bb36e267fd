import { afterEach, describe, expect, it } from 'vitest';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { expectEachPressOnce, pressSteadily } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

interface ForwardingView {
  enabled: boolean;
  backlog: { count: number; oldestEnqueuedAt: number | null; oldestAgeS: number | null };
  done: number;
  rejected: number;
  link: { state: string; consecutiveFailures: number; lastError: { kind: string } | null; nextAttemptAt: number | null };
}

describe('the province down for the whole run, then up', () => {
  it('everything is delivered, once; meanwhile the backlog shows in the API and /metrics', async () => {
    hall = await TestHall.start({ forward: { batchSize: 25, retry: { baseMs: 50, maxMs: 400 } } });
    await hall.stopProvince(); // connection refused from the first push on
    const devices = [await hall.addDevice('01'), await hall.addDevice('02'), await hall.addDevice('03')];
    await waitFor(() => devices.every((d) => d.agent.link.connected), 'devices to connect');

    await pressSteadily(devices, 40, 15);
    const pressed = devices.flatMap((d) => d.stored);
    expect(pressed).toHaveLength(120);
    await waitFor(() => devices.every((d) => d.agent.outbox.depth() === 0), 'the hub to store everything');

    // Down: nothing forwarded, nothing dropped, the backlog visible with its age.
    const down = await waitFor(async () => {
      const f = await hall!.api<ForwardingView>('/api/forwarding');
      return f.backlog.count === 120 && (f.backlog.oldestAgeS ?? 0) >= 1 && f.link.consecutiveFailures >= 3 ? f : null;
    }, 'the backlog to age while the province is down');
    expect(down).toMatchObject({ enabled: true, done: 0, rejected: 0, link: { lastError: { kind: 'connection' } } });
    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${hall!.hubUrl}/metrics`, { headers: { authorization: `Bearer ${hall!.adminToken}` } })).text();
      return /^hcp_forward_oldest_age_seconds [1-9]/m.test(text) ? text : null;
    }, '/metrics to show the age of the backlog');
    expect(metrics).toMatch(/^hcp_forward_backlog 120$/m);
    expect(metrics).toMatch(/^hcp_forward_link_up 0$/m);
    expect(metrics).toMatch(/^hcp_forward_failures_total\{kind="connection"\} [1-9]/m);

    await hall.startProvince();
    await waitFor(() => hall!.province.stats().accepted === 120, 'the province to accept all 120', 30_000);
    await sleep(300); // a late duplicate, if any, would show up now
    await expectEachPressOnce(hall, pressed);
    // The province was never reached while down, so it never even received a copy twice.
    expect(hall.province.stats()).toMatchObject({ accepted: 120, received: 120, duplicatesReceived: 0, rejected: 0 });
    const up = await waitFor(async () => {
      const f = await hall!.api<ForwardingView>('/api/forwarding');
      return f.done === 120 ? f : null;
    }, 'the hub to mark all 120 forwarded');
    expect(up.backlog).toEqual({ count: 0, oldestEnqueuedAt: null, oldestAgeS: null });
    expect(up.link.consecutiveFailures).toBe(0);
  });
});
