import { afterEach, describe, expect, it } from 'vitest';
import { verifyRecord, LEVELS } from '../../protocol/index.js';
import { TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

describe("one rating's whole journey, button to province", () => {
  it('3 devices × 100 presses → exactly 300 records at the province, each once, intact and verifiable', async () => {
    hall = await TestHall.start();
    const devices = [await hall.addDevice('01'), await hall.addDevice('02'), await hall.addDevice('03')];
    await waitFor(() => devices.every((d) => d.agent.link.connected), 'devices to connect');

    for (let i = 0; i < 100; i++) {
      for (const d of devices) d.rate(i % 5); // a 差评 goes through the reasons screen
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    const pressed = devices.flatMap((d) => d.stored);
    expect(pressed).toHaveLength(300);

    const atProvince = await waitFor(async () => {
      const recs = await hall!.provinceRecords();
      return recs.length >= 300 ? recs : null;
    }, 'the province to accept 300 records');
    expect(atProvince).toHaveLength(300);

    const byId = new Map(atProvince.map((r) => [r.record.id, r.record]));
    expect(byId.size).toBe(300);
    for (const d of devices) {
      const key = hall.hub!.registry.publicKey(d.id)!;
      for (const sent of d.stored) {
        const got = byId.get(sent.id);
        expect(got, `record ${sent.id}`).toEqual(sent); // every field intact
        expect(verifyRecord(got!, key).ok).toBe(true);
      }
      // Each device's sequence is gapless 1..100 and its levels follow the buttons pressed.
      expect(d.stored.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(d.stored.map((r) => r.level)).toEqual(Array.from({ length: 100 }, (_, i) => LEVELS[i % 5]));
      expect(d.stored.every((r) => r.window === d.agent.currentConfig.window && r.hall === 'test-hall')).toBe(true);
    }

    // Devices forget what the hub stored, and the hub's forward queue empties.
    await waitFor(() => devices.every((d) => d.agent.outbox.depth() === 0), 'device outboxes to drain');
    await waitFor(() => hall!.hub!.forwarder!.backlog().count === 0, 'forward backlog to drain');
    const stats = await hall.api<{ ratings: number; forwarded: number }>('/api/stats');
    expect(stats).toMatchObject({ ratings: 300, forwarded: 300 });
    expect((await hall.province.stats()).accepted).toBe(300);
  }, 90_000); // 300 presses end to end

  it('a device rates with the hub unreachable and delivers everything once it is back', async () => {
    hall = await TestHall.start();
    const d = await hall.addDevice('07');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    await hall.hub!.close();
    await waitFor(() => !d.agent.link.connected, 'device to notice the hub is gone');
    for (let i = 0; i < 20; i++) d.buttons.press(0);
    expect(d.stored).toHaveLength(20);
    expect(d.agent.outbox.depth()).toBe(20);

    const { startHub } = await import('../../hub/hub.js');
    const { join } = await import('node:path');
    hall.hub = await startHub(
      {
        dataDir: join(hall.dir, 'hub'),
        hall: 'test-hall',
        mqtt: { host: '127.0.0.1', port: hall.ports.mqtt },
        http: { host: '127.0.0.1', port: hall.ports.http },
        province: { url: `${hall.province.url}/api/evaluations`, lingerMs: 5 },
      },
      hall.log,
    );
    await waitFor(async () => (await hall!.provinceRecords()).length === 20, 'all 20 at the province', 30_000);
    await waitFor(() => d.agent.outbox.depth() === 0, 'outbox to drain');
  });
});
