/**
 * The agent as a whole, in this process: thank-you only after the durable write, a full
 * outbox or a full disk put the device out of service (and back), status says what hall IT
 * needs, keys and config survive on disk. Storage is real SQLite on real (and, as root, tiny
 * tmpfs) file systems.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, FIRMWARE_VERSION } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import type { DisplayDriver, Frame } from '../../device/display/types.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { KEY_FILE } from '../../device/identity/keys.js';
import { OUTBOX_FILE } from '../../device/outbox/outbox.js';
import { clockSyncProbe } from '../../device/util/clock-sync.js';
import { recordHash, StatusSchema, type RatingRecord, type Status } from '../../protocol/index.js';
import { offlineDevice } from '../helpers/offline-device.js';
import { TestHall } from '../helpers/hall.js';
import { silentLog } from '../helpers/log.js';
import { sleep, waitFor } from '../helpers/wait.js';

let root: string;
const agents: Agent[] = [];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'hcp-agent-'));
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop().catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

function run(dir: string, o: Partial<ConstructorParameters<typeof Agent>[0]> = {}) {
  const buttons = (o.buttons as VirtualButtons | undefined) ?? new VirtualButtons(5, { debounceMs: 5, stuckMs: 200 });
  const display = (o.display as VirtualDisplay | undefined) ?? new VirtualDisplay(1000);
  const agent = Agent.open({
    dataDir: dir,
    buttons,
    display,
    log: silentLog(),
    clockSynced: () => true,
    tickMs: 20,
    recoveryCheckMs: 50,
    link: { backoff: undefined },
    ...o,
  });
  const stored: RatingRecord[] = [];
  agent.on('stored', (r) => stored.push(r));
  agents.push(agent);
  return { agent, buttons, display, stored };
}

const thanks = (frames: Frame[]) => frames.filter((f) => f.screen === 'thanks') as Extract<Frame, { screen: 'thanks' }>[];

describe('thank-you only after the durable write', () => {
  it('when the thank-you is shown, the record is already readable from the outbox file by another connection', async () => {
    const dir = await offlineDevice(join(root, 'd'));
    const checks: boolean[] = [];
    const probe: DisplayDriver = {
      name: 'probe',
      start: async () => {},
      stop: async () => {},
      show: (f) => {
        if (f.screen !== 'thanks') return;
        const db = new Database(join(dir, OUTBOX_FILE), { readonly: true });
        checks.push(db.prepare('SELECT 1 FROM records WHERE id = ?').get(f.ref) !== undefined);
        db.close();
      },
    };
    const { agent, buttons } = run(dir, { display: probe });
    await agent.start();
    for (let i = 0; i < 20; i++) buttons.press(i % 3);
    expect(checks).toHaveLength(20);
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('a full disk', () => {
  it('(SQLite max_page_count) the citizen is not thanked for an unwritten record; the fault is reported; the agent keeps running and comes back once there is room', async () => {
    const dir = await offlineDevice(join(root, 'd'));
    const { agent, buttons, display, stored } = run(dir, { outbox: { maxPages: 12, retainDelivered: 0 } });
    await agent.start();
    let i = 0;
    while (agent.status().mode !== 'out-of-service' && i < 500) buttons.press(i++ % 3);
    expect(agent.status().mode).toBe('out-of-service');
    expect(i).toBeGreaterThan(3);
    // Thanked exactly the stored ones: the press that could not be written got none.
    expect(thanks(display.frames).map((f) => f.ref)).toEqual(stored.map((r) => r.id));
    expect(stored.length).toBe(i - 1);
    expect(display.current).toMatchObject({ screen: 'out-of-service', fault: 'disk-full' });
    const st = agent.status();
    expect(st.faults).toContain('disk-full');
    expect(st.counters).toMatchObject({ recordsNotWritten: 1 });
    // Still running: presses are counted, nothing crashes, the outbox still reads.
    buttons.press(0);
    expect(agent.status().counters.pressesOutOfService).toBe(1);
    expect(agent.outbox.pending(1000)).toHaveLength(stored.length);
    // The hub takes the records; their pages are free again; the agent notices by itself.
    agent.outbox.markAcked(stored.map((r) => ({ seq: r.seq, id: r.id })));
    await waitFor(() => agent.status().mode !== 'out-of-service', 'back in service', 5000);
    expect(agent.status().faults).not.toContain('disk-full');
    buttons.press(1);
    expect(stored[stored.length - 1]!.seq).toBe(i); // the sequence goes on: nothing was skipped
    expect(thanks(display.frames).at(-1)!.ref).toBe(stored.at(-1)!.id);
  });

  const isRoot = process.getuid?.() === 0;
  it.skipIf(!isRoot)(
    '(a real 1 MiB tmpfs, root only) ENOSPC is the same: no thank-you, fault, still running, nothing written is damaged',
    async () => {
      const mnt = join(root, 'small');
      mkdirSync(mnt);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
      } catch (e) {
        // A container without CAP_SYS_ADMIN: the max_page_count test above covers the logic.
        console.warn(`cannot mount a tmpfs here (${(e as Error).message.split('\n')[0]}); skipping the ENOSPC variant`);
        return;
      }
      try {
        const dir = await offlineDevice(join(mnt, 'd'));
        const { agent, buttons, display, stored } = run(dir);
        await agent.start();
        let i = 0;
        while (agent.status().mode !== 'out-of-service' && i < 5000) buttons.press(i++ % 3);
        expect(agent.status().mode).toBe('out-of-service');
        expect(agent.status().faults).toContain('disk-full');
        expect(stored.length).toBeGreaterThan(10);
        expect(thanks(display.frames).map((f) => f.ref)).toEqual(stored.map((r) => r.id));
        buttons.press(0);
        expect(agent.status().counters.pressesOutOfService).toBe(1);
        await agent.stop();
        agents.splice(agents.indexOf(agent), 1);
        // Every thanked record is intact and chained.
        const db = new Database(join(dir, OUTBOX_FILE), { readonly: true });
        const bodies = db
          .prepare<[], { body: string }>('SELECT body FROM records ORDER BY seq')
          .all()
          .map((r) => JSON.parse(r.body) as RatingRecord);
        db.close();
        expect(bodies.map((r) => r.id)).toEqual(stored.map((r) => r.id));
        for (let k = 1; k < bodies.length; k++) expect(bodies[k]!.prev).toBe(recordHash(bodies[k - 1]!));
      } finally {
        execFileSync('umount', ['-l', mnt]);
      }
    },
  );
});

describe('a full outbox', () => {
  it('refuses new ratings with out-of-service and the outbox-full fault, keeps every undelivered one, and resumes once the hub took some', async () => {
    const dir = await offlineDevice(join(root, 'd'));
    const { agent, buttons, display, stored } = run(dir, { outbox: { capacity: 10 } });
    await agent.start();
    for (let i = 0; i < 12; i++) buttons.press(0);
    expect(stored).toHaveLength(10);
    expect(thanks(display.frames)).toHaveLength(10);
    expect(display.current).toMatchObject({ screen: 'out-of-service', fault: 'outbox-full' });
    expect(agent.status()).toMatchObject({ faults: ['outbox-full'], mode: 'out-of-service', outbox: { depth: 10, capacity: 10 } });
    agent.outbox.markAcked([{ seq: 1, id: stored[0]!.id }]);
    await waitFor(() => agent.status().mode !== 'out-of-service', 'back in service', 5000);
    buttons.press(0);
    expect(stored).toHaveLength(11);
  });
});

describe('status', () => {
  it('says firmware, uptime, boot id, clock state, outbox depth and oldest age, counters of ignored and flagged presses, and faults', async () => {
    const dir = await offlineDevice(join(root, 'd'), {
      mode: 'session',
      timeouts: { repeatIntervalS: 5, tooSoonS: 1, thanksS: 0.1, promptS: 60, reasonS: 30 },
    });
    const { agent, buttons } = run(dir, { clockSynced: () => false });
    await agent.start();
    buttons.press(0); // no session: flagged
    buttons.press(0); // a repeat: ignored
    buttons.down(1); // jammed: one press (a repeat too, so ignored), then a fault
    await waitFor(() => agent.status().faults.includes('stuck-button-2'), 'the stuck button');
    const st = agent.status();
    expect(StatusSchema.safeParse({ v: 1, state: 'online', ...st }).success).toBe(true);
    expect(st).toMatchObject({ firmware: FIRMWARE_VERSION, clockSynced: false, outbox: { depth: 1, lastSeq: 1 } });
    expect(st.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(st.outbox.oldestAgeS).toBeGreaterThanOrEqual(0);
    expect(st.counters).toMatchObject({ presses: 3, ratings: 1, flaggedNoSession: 1, pressesRepeated: 2 });
    buttons.up(1);
    await waitFor(() => !agent.status().faults.includes('stuck-button-2'), 'the fault to clear');
  });

  it('is published retained to the hub; the last will says offline when the link drops', async () => {
    const hall = await TestHall.start();
    try {
      const seen: Status[] = [];
      hall.hub!.events.on('status', (_d, s) => seen.push(s));
      const { dir } = await hall.enrolDevice('04');
      const { agent, buttons } = run(dir, { clockSynced: () => true });
      await agent.start();
      await waitFor(() => seen.some((s) => s.state === 'online'), 'an online status');
      buttons.down(2);
      await waitFor(() => seen.some((s) => s.faults.includes('stuck-button-3') && s.counters.presses === 1), 'the stuck button at the hub');
      agent.link.sever();
      await waitFor(() => seen.some((s) => s.state === 'offline'), 'the last will');
    } finally {
      await hall.close();
    }
  });
});

describe('on disk: key, sequence, config', () => {
  it('the signing key is written with mode 0600, and the sequence and chain continue across restarts', async () => {
    const dir = await offlineDevice(join(root, 'd'));
    let r = run(dir);
    await r.agent.start();
    r.buttons.press(0);
    r.buttons.press(1);
    await r.agent.stop();
    agents.splice(0);
    expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600);
    const before = r.stored;
    r = run(dir);
    await r.agent.start();
    r.buttons.press(2);
    expect(r.stored[0]!.seq).toBe(3);
    expect(r.stored[0]!.prev).toBe(recordHash(before[1]!));
    expect(r.stored[0]!.bootId).not.toBe(before[0]!.bootId);
  });

  it('boots from the cached config with the hub unreachable: staff card, button map and mode as last pushed', async () => {
    const staff = { id: 'S042', name: '张三', number: '0042', photo: null };
    const dir = await offlineDevice(join(root, 'd'), { mode: 'session', staff, buttons: [4, 3, 2], version: 7 });
    const { agent, buttons, display, stored } = run(dir, { buttons: new VirtualButtons(3) });
    await agent.start();
    expect(agent.currentConfig.version).toBe(7);
    expect(display.current).toMatchObject({ screen: 'idle', staff });
    buttons.press(0);
    expect(stored[0]).toMatchObject({ level: 4, staffId: 'S042', flags: ['no-session'] });
  });

  it('a button driver that reads another number of buttons than the config maps is a fault', async () => {
    const dir = await offlineDevice(join(root, 'd'), { buttons: [4, 3, 2] });
    const { agent } = run(dir, { buttons: new VirtualButtons(5) });
    await agent.start();
    expect(agent.status().faults).toContain('button-count-mismatch');
  });
});

describe('clock sync detection (no RTC on a Pi)', () => {
  it("auto: synced once systemd-timesyncd's marker file exists; yes/no force it", async () => {
    const marker = join(root, 'synchronized');
    const probe = clockSyncProbe('auto', marker);
    expect(probe()).toBe(false);
    writeFileSync(marker, '');
    await sleep(10);
    expect(clockSyncProbe('auto', marker)()).toBe(true);
    expect(clockSyncProbe('yes', marker)()).toBe(true);
    expect(clockSyncProbe('no', marker)()).toBe(false);
  });
});
