import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_VERSION } from '../../device/agent.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import { TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

type DeviceView = { device: { keyEpoch: number; lastSeq: number; enrolled: boolean }; gaps: unknown[] };

describe('re-enrolling a device', () => {
  it('with the key it had, its chain goes on; with a new key (new SD card), a new chain from seq 1 — no gap, no fork either way', async () => {
    hall = await TestHall.start();
    let dev = await hall.addDevice('07');
    await waitFor(() => dev.agent.link.connected, 'connected');
    dev.rate(0);
    await waitFor(() => dev.agent.outbox.depth() === 0 && dev.agent.outbox.stats().lastSeq === 1, 'seq 1 acknowledged');
    await dev.agent.stop();
    const oldCreds = JSON.parse(readFileSync(join(dev.dir, 'enrolment.json'), 'utf8')) as { username: string; password: string };

    // Hall IT re-enrols it (say its credentials leaked): the old secret stops working at once.
    const { token } = await hall.api<{ token: string }>(`/api/devices/${dev.id}/reenrol`, {});
    await expect(
      mqtt.connectAsync(`mqtt://127.0.0.1:${hall.ports.mqtt}`, {
        clientId: oldCreds.username,
        username: oldCreds.username,
        password: oldCreds.password,
        reconnectPeriod: 0,
      }),
    ).rejects.toMatchObject({ code: 4 });
    expect((await hall.api<DeviceView>(`/api/devices/${dev.id}`)).device.enrolled).toBe(false);

    // The same device (same data directory, same key, same outbox) enrols again: seq goes on.
    await enrol(dev.dir, hall.hubUrl, token, FIRMWARE_VERSION);
    dev = await hall.runDevice(dev.id, dev.dir);
    await waitFor(() => dev.agent.link.connected, 'reconnected with the new secret');
    dev.rate(1);
    await waitFor(() => dev.agent.outbox.depth() === 0 && dev.agent.outbox.stats().lastSeq === 2, 'seq 2 acknowledged');
    let view = await hall.api<DeviceView>(`/api/devices/${dev.id}`);
    expect(view.device).toMatchObject({ keyEpoch: 1, lastSeq: 2, enrolled: true });
    expect(view.gaps).toEqual([]);
    await dev.agent.stop();

    // A replacement with a fresh SD card: a new key, a new epoch, a chain from seq 1.
    const { token: token2 } = await hall.api<{ token: string }>(`/api/devices/${dev.id}/reenrol`, {});
    const fresh = join(hall.dir, 'devices', `${dev.id}-replacement`);
    mkdirSync(fresh, { recursive: true });
    await enrol(fresh, hall.hubUrl, token2, FIRMWARE_VERSION);
    dev = await hall.runDevice(dev.id, fresh);
    await waitFor(() => dev.agent.link.connected, 'replacement connected');
    dev.rate(2);
    await waitFor(() => dev.agent.outbox.depth() === 0 && dev.agent.outbox.stats().lastSeq === 1, "the new chain's seq 1 acknowledged");
    view = await hall.api<DeviceView>(`/api/devices/${dev.id}`);
    expect(view.device).toMatchObject({ keyEpoch: 2, lastSeq: 1 });
    expect(view.gaps).toEqual([]);
    expect((await hall.api<{ alarms: unknown[] }>('/api/alarms')).alarms).toEqual([]);
    // All three ratings reached the province; the two chains are both intact.
    await waitFor(async () => (await hall!.provinceRecords()).length === 3, 'three ratings at the province');
    expect((await hall.provinceRecords()).map((r) => r.record.seq)).toEqual([1, 2, 1]);
  });
});
