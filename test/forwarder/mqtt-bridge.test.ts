import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { expectEachPressOnce, Mosquitto, pressSteadily, queueStates } from './helpers.js';

let hall: TestHall | null = null;
let broker: Mosquitto | null = null;
let dir = '';
afterEach(async () => {
  await hall?.close();
  await broker?.down();
  hall = null;
  broker = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function mqttHall(replyTopic: string | null, faults = {}): Promise<TestHall> {
  dir = mkdtempSync(join(tmpdir(), 'hcp-mosq-'));
  broker = await Mosquitto.start(dir);
  return TestHall.start({
    // The stand-in province takes batches from the provincial broker and answers on …/results.
    province: { mqtt: { url: broker.url, topic: 'hcp/province/v1/+/evaluations' }, faults },
    forward: {
      transport: 'mqtt',
      mqtt: { urls: [broker.url], replyTopic },
      batchSize: 10,
      timeoutMs: 1000,
      retry: { baseMs: 100, maxMs: 800 },
    },
  });
}

describe('the upstream MQTT bridge to a provincial broker (Debian mosquitto)', () => {
  it('delivers everything once through a broker restart: a batch counts only when the province answers for it', async () => {
    // Answers take 300 ms, so when the broker goes down a batch is waiting for its answer.
    hall = await mqttHall('hcp/province/v1/{hall}/results', { slow: 1, slowMs: 300 });
    const devices = [await hall.addDevice('01'), await hall.addDevice('02')];
    await waitFor(() => devices.every((d) => d.agent.link.connected), 'devices to connect');
    await waitFor(() => hall!.province.mqttSubscribed(), 'the province to subscribe');

    let restarted = false;
    await pressSteadily(devices, 60, 15, async (i) => {
      if (i !== 25) return;
      await broker!.down(); // the provincial broker restarts mid-run, with batches on the wire
      await sleep(800);
      await broker!.up();
      restarted = true;
    });
    expect(restarted).toBe(true);
    const rated = devices.flatMap((d) => d.stored);
    expect(rated).toHaveLength(120);

    await waitFor(() => queueStates(hall!.hub!.db).done === 120, 'the hub to have an answer for all 120', 45_000);
    await sleep(300);
    await expectEachPressOnce(hall, rated);
    const s = hall.province.stats();
    expect(s).toMatchObject({ accepted: 120, rejected: 0 });
    expect(s.received).toBe(s.accepted + s.duplicatesReceived);
    // The restart was felt: pushes failed and were retried.
    const failures = await hall.hub!.metrics.forwardFailures.get();
    expect(failures.values.reduce((n, v) => n + v.value, 0)).toBeGreaterThan(0);
    expect(hall.hub!.forwarder!.status()).toMatchObject({ transport: 'mqtt', consecutiveFailures: 0 });
  }, 90_000); // a mosquitto process stopped and started again

  it("a province without a reply channel: the broker's PUBACK counts, and nothing is lost while the broker is up", async () => {
    hall = await mqttHall(null);
    const d = await hall.addDevice('03');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    // Without answers, a batch published before the province subscribed would be PUBACKed and
    // lost: the reason replyTopic is the default.
    await waitFor(() => hall!.province.mqttSubscribed(), 'the province to subscribe');
    await pressSteadily([d], 30, 10);
    await waitFor(() => hall!.province.stats().accepted === 30, 'all 30 at the province');
    await waitFor(() => queueStates(hall!.hub!.db).done === 30, 'all marked forwarded');
    await expectEachPressOnce(hall, d.stored);
  });
});
