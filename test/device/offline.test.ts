/**
 * Offline for a long time: the hub is gone while citizens keep rating. Every press is kept in
 * the outbox (and thanked, because it is on disk); when the hub is back everything is delivered
 * in sequence order, nothing twice, and the outbox prunes what was delivered down to its
 * retention (by sequence, never by wall clock). HCP_OFFLINE_PRESSES makes it longer.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { startHub } from '../../hub/hub.js';
import type { RatingRecord } from '../../protocol/index.js';
import { TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

const PRESSES = Number(process.env.HCP_OFFLINE_PRESSES ?? 2000);
let hall: TestHall | null = null;
let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  await hall?.close();
  agent = null;
  hall = null;
});

describe('a device offline for a long time', () => {
  it(`rates through ${PRESSES} presses with the hub stopped, then delivers all, in order, none twice, and prunes its outbox`, async () => {
    hall = await TestHall.start();
    const { id, dir } = await hall.enrolDevice('03');
    const buttons = new VirtualButtons(5);
    const display = new VirtualDisplay(10);
    agent = Agent.open({
      dataDir: dir,
      buttons,
      display,
      log: hall.log,
      clockSynced: () => true,
      outbox: { retainDelivered: 100 },
      link: { ackTimeoutMs: 3000 },
    });
    const stored: RatingRecord[] = [];
    agent.on('stored', (r) => stored.push(r));
    await agent.start();
    await waitFor(() => agent!.link.connected, 'the device to connect');

    await hall.hub!.close();
    await waitFor(() => !agent!.link.connected, 'the device to notice the hub is gone');
    let thanks = 0;
    display.onFrame((f) => f.screen === 'thanks' && thanks++);
    for (let i = 0; i < PRESSES; i++) {
      buttons.press([0, 0, 1, 2, 0, 3, 0, 4][i % 8]!);
      const f = display.current;
      if (f?.screen === 'reasons') buttons.press(f.options.find((o) => o.action === 'skip')!.button);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r)); // let the link's timers run
    }
    expect(stored).toHaveLength(PRESSES);
    expect(thanks).toBe(PRESSES);
    expect(agent.outbox.depth()).toBe(PRESSES);
    const offline = agent.status();
    expect(offline.outbox).toMatchObject({ depth: PRESSES, lastSeq: PRESSES });
    expect(offline.outbox.oldestAgeS).toBeGreaterThanOrEqual(0);

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
    await waitFor(() => agent!.outbox.depth() === 0, 'the outbox to drain', 120_000);

    // At the hub: all of them, once each, and stored in the order they were pressed.
    const rows = hall.hub.db
      .prepare<[string], { id: string; seq: number }>('SELECT id, seq FROM ratings WHERE device = ? ORDER BY rowid')
      .all(id);
    expect(rows).toHaveLength(PRESSES);
    expect(rows.map((r) => r.seq)).toEqual(stored.map((r) => r.seq));
    expect(rows.map((r) => r.id)).toEqual(stored.map((r) => r.id));
    // The outbox kept only the newest 100 delivered records.
    const s = agent.outbox.stats();
    expect(s).toMatchObject({ depth: 0, delivered: 100, lastSeq: PRESSES });
    expect(agent.status().outbox.oldestAgeS).toBeNull();
    // And the sequence goes on after the pruning.
    buttons.press(0);
    expect(stored[stored.length - 1]!.seq).toBe(PRESSES + 1);
  }, 300_000);
});
