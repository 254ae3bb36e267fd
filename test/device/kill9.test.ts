/**
 * A real device agent process (`haochaping device run`, from dist/), driven from outside as the
 * hardware would: presses go in through a socat pty into the serial keypad driver, the
 * thank-you is read from the serial display controller's pty. The process is killed with
 * SIGKILL at random moments — some in the middle of a press — and started again each time.
 * In the end the hub must hold every press whose thank-you was shown, exactly once, in one
 * continuous chain that verifies.
 *
 * HCP_KILL9_PRESSES / HCP_KILL9_KILLS make it longer (`npm run test:kill9:long`).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordHash, verifyRecord, GENESIS_HASH, type RatingRecord } from '../../protocol/index.js';
import { spawnCli, stopProcess } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { openHardwareEnd, ptyPair, type PtyPair } from '../helpers/pty.js';
import { sleep, waitFor } from '../helpers/wait.js';

const PRESSES = Number(process.env.HCP_KILL9_PRESSES ?? 500);
const KILLS = Number(process.env.HCP_KILL9_KILLS ?? 20);

interface PanelFrame {
  n: number;
  screen: string;
  lines: string[];
}

/** Reads complete frames (FRAME n … END n) off the display controller's end of the pty. */
class Panel {
  private cursor = 0;
  constructor(private readonly lines: string[]) {}

  /** Frames completed since the last call; a block cut off by a kill is skipped. */
  take(): PanelFrame[] {
    const out: PanelFrame[] = [];
    let open: PanelFrame | null = null;
    let consumed = this.cursor;
    for (let i = this.cursor; i < this.lines.length; i++) {
      const l = this.lines[i]!;
      const start = /^FRAME (\d+) (\S+)$/.exec(l);
      if (start) open = { n: Number(start[1]), screen: start[2]!, lines: [] };
      else if (open && l === `END ${open.n}`) {
        out.push(open);
        open = null;
        consumed = i + 1;
      } else if (open) open.lines.push(l);
    }
    this.cursor = open ? consumed : this.lines.length;
    return out;
  }

  /** Waits for a frame matching `want`; null if none comes within `ms` (the agent was killed). */
  async next(want: (f: PanelFrame) => boolean, ms: number): Promise<PanelFrame | null> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const f = this.take().find(want);
      if (f) return f;
      await sleep(2);
    }
    return null;
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'hcp-kill9-'));
let hall: TestHall | null = null;
const pairs: PtyPair[] = [];
afterAll(async () => {
  await hall?.close();
  for (const p of pairs) await p.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the device agent killed with SIGKILL at random moments', () => {
  it(`${PRESSES} presses through a real serial keypad, ${KILLS}+ kills: every thanked press reaches the hub once, in one verifiable chain`, async () => {
    hall = await TestHall.start();
    const { id, dir } = await hall.enrolDevice('09', {
      mode: 'walk-up',
      timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0, reasonS: 5 },
    });
    const keypadPty = await ptyPair(tmp, 'keypad');
    const displayPty = await ptyPair(tmp, 'display');
    pairs.push(keypadPty, displayPty);
    const keypad = await openHardwareEnd(keypadPty.hardware, 9600);
    const display = await openHardwareEnd(displayPty.hardware, 115200);
    const panel = new Panel(display.lines);
    const args = [
      'device',
      'run',
      '--data',
      dir,
      '--buttons',
      'serial',
      '--keypad-port',
      keypadPty.device,
      '--display',
      'serial',
      '--display-port',
      displayPty.device,
      '--clock-synced',
      'yes',
      '--log-level',
      'warn',
    ];

    let agent: ChildProcess | null = null;
    const start = async () => {
      agent = spawnCli(args, join(tmp, 'device.log'));
      // Up once it has drawn its first screen (walk-up: the prompt).
      const up = await panel.next((f) => f.screen === 'prompt', 20_000);
      if (!up) throw new Error('the agent did not draw its prompt; see ' + join(tmp, 'device.log'));
    };
    const kill = async () => {
      const a = agent!;
      a.kill('SIGKILL');
      await new Promise((r) => (a.exitCode !== null || a.signalCode !== null ? r(null) : a.once('exit', r)));
    };

    await start();
    const thanked: string[] = [];
    const killAt = new Set<number>();
    while (killAt.size < KILLS) killAt.add(1 + Math.floor(Math.random() * (PRESSES - 1)));
    let kills = 0;
    let midPressKills = 0;

    for (let i = 0; i < PRESSES; i++) {
      const button = [0, 0, 0, 1, 1, 2, 3, 4][i % 8]!; // mostly 非常满意, some 差评
      const killNow = killAt.has(i);
      await keypad.write(`K${button + 1}\n`);
      if (killNow && Math.random() < 0.7) {
        // Somewhere inside the press: before, during or after the durable write.
        await sleep(Math.random() * 6);
        await kill();
        kills++;
        midPressKills++;
        panel.take();
        await start();
        continue;
      }
      let f = await panel.next((x) => x.screen === 'thanks' || x.screen === 'reasons', 5000);
      if (f?.screen === 'reasons') {
        // The citizen picks the first reason on the page, then confirms.
        await keypad.write('K1\n');
        await panel.next((x) => x.screen === 'reasons' && x.lines.some((l) => l.startsWith('OPT 5 DONE')), 5000);
        await keypad.write('K5\n');
        f = await panel.next((x) => x.screen === 'thanks', 5000);
      }
      expect(f?.screen, `press ${i}`).toBe('thanks');
      const ref = f!.lines.find((l) => l.startsWith('REF '))!.slice(4);
      thanked.push(ref);
      if (killNow) {
        await kill(); // right after the thank-you: the record must already be on disk
        kills++;
        panel.take();
        await start();
      }
    }
    expect(kills).toBeGreaterThanOrEqual(KILLS);

    // Let the last run deliver everything, then stop it gracefully.
    const db = hall.hub!.db;
    const stored = () =>
      db
        .prepare<[string], { body: string }>('SELECT body FROM ratings WHERE device = ? ORDER BY seq')
        .all(id)
        .map((r) => JSON.parse(r.body) as RatingRecord);
    await waitFor(
      () => {
        const ids = new Set(stored().map((r) => r.id));
        return thanked.every((t) => ids.has(t));
      },
      'every thanked record at the hub',
      60_000,
    );
    await sleep(500);
    expect(await stopProcess(agent!, 'SIGTERM')).toBe(0);

    const records = stored();
    // Every thanked press exactly once.
    const count = new Map<string, number>();
    for (const r of records) count.set(r.id, (count.get(r.id) ?? 0) + 1);
    for (const t of thanked) expect(count.get(t), `thanked record ${t}`).toBe(1);
    expect(new Set(thanked).size).toBe(thanked.length);
    // One continuous chain 1..N, each record signed by the device and linked to the one before.
    const key = hall.hub!.registry.publicKey(id)!;
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    let prev = GENESIS_HASH;
    for (const r of records) {
      expect(r.prev, `chain at seq ${r.seq}`).toBe(prev);
      expect(verifyRecord(r, key).ok).toBe(true);
      prev = recordHash(r);
    }
    expect(db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM gaps WHERE device = ?').get(id)!.n).toBe(0);
    // Only presses cut off by a kill may be at the hub without a thank-you.
    const ratings = records.filter((r) => r.kind === 'rating');
    expect(ratings.length - thanked.length).toBeGreaterThanOrEqual(0);
    expect(ratings.length - thanked.length).toBeLessThanOrEqual(midPressKills);
    await keypad.close();
    await display.close();
  }, 600_000);
});
