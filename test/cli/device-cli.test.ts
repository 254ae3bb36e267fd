/**
 * `haochaping device run` and `device status` as processes (from dist/): options are checked
 * with messages hall IT can act on; the gpiod driver runs against a fake `gpiomon` found on
 * PATH, like the real one would be; status reads the outbox while the agent runs.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PATH, spawnCli, stopProcess } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { openHardwareEnd, ptyPair } from '../helpers/pty.js';
import { sleep, waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'hcp-devcli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function runCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  return { code, out, err };
}

describe('haochaping device run: option checks', () => {
  it.each([
    [['--buttons', 'gpio'], /--buttons gpio needs --button-pins: one GPIO number per button, left to right, 2 to 5 of them \(got 0\)/],
    [['--buttons', 'gpio', '--button-pins', '17,27,x'], /--button-pins must be GPIO numbers separated by commas/],
    [['--buttons', 'serial'], /--buttons serial needs --keypad-port/],
    [['--buttons', 'usb'], /--buttons must be one of gpio, gpiod, serial, firmata, keyboard, virtual/],
    [
      ['--buttons', 'gpiod', '--button-pins', '17,27,22', '--display', 'leds', '--led-pins', '5,6', '--status-led', '12'],
      /--display leds needs --led-pins with one GPIO per button: 3 buttons, 2 LEDs/,
    ],
    [['--display', 'serial'], /--display serial needs --display-port/],
    [['--clock-synced', 'maybe'], /--clock-synced must be auto, yes or no/],
    [['--debounce-ms', '0'], /--debounce-ms must be at least 1/],
  ])('%j is refused with a clear message and exit code 2', async (args, message) => {
    const r = await runCli(['device', 'run', '--data', join(tmp, 'none'), ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('a data directory that was never enrolled says what to do', async () => {
    const r = await runCli(['device', 'run', '--data', join(tmp, 'never'), '--buttons', 'virtual', '--display', 'virtual']);
    expect(r.code).not.toBe(0);
    expect(r.err + r.out).toMatch(/not enrolled; run "haochaping device enrol"/);
  });
});

describe('haochaping device run --buttons gpiod with gpiomon on PATH, --display serial', () => {
  let hall: TestHall | null = null;
  afterAll(async () => hall?.close());

  it('rates a press that arrives as gpiomon event lines (with bounce), shows thanks on the panel; device status reads the outbox meanwhile', async () => {
    hall = await TestHall.start();
    const { dir } = await hall.enrolDevice('21');
    const sockPath = join(tmp, 'chip.sock');
    const clients = new Set<Socket>();
    const server = createServer((s) => clients.add(s));
    await new Promise<void>((r) => server.listen(sockPath, r));
    const panelPty = await ptyPair(tmp, 'panel');
    const panel = await openHardwareEnd(panelPty.hardware);
    const env = { PATH: `${join(import.meta.dirname, '../fixtures/fake-gpiod')}:${process.env.PATH}`, FAKE_GPIOD_SOCKET: sockPath };
    const agent = spawnCli(
      [
        'device',
        'run',
        '--data',
        dir,
        '--buttons',
        'gpiod',
        '--gpio-chip',
        'gpiochip0',
        '--button-pins',
        '17,27,22,23,24',
        '--debounce-ms',
        '10',
        '--display',
        'serial',
        '--display-port',
        panelPty.device,
        '--log-level',
        'warn',
      ],
      join(tmp, 'agent.log'),
      env,
    );
    try {
      await waitFor(() => clients.size === 1, 'gpiomon to start', 20_000);
      await waitFor(() => panel.lines.some((l) => / prompt$/.test(l)), 'the prompt on the panel', 20_000);
      const [chip] = [...clients];
      // 满意 (button 2, GPIO 27): a bouncy press and release, each edge stamped with when it
      // happened (the kernel's clock), sent in one burst like a pipe would deliver them bunched.
      const t0 = process.hrtime.bigint();
      const edges = (list: [level: number, ms: number][]) => list.map(([lv, ms]) => `27 ${lv} ${t0 + BigInt(ms * 1e6)}\n`).join('');
      chip!.write(
        edges([
          [1, 0],
          [0, 1],
          [1, 2],
          [0, 3],
          [1, 4],
        ]),
      );
      await sleep(60);
      chip!.write(
        edges([
          [0, 64],
          [1, 65],
          [0, 66],
        ]),
      );
      await waitFor(() => panel.lines.some((l) => / thanks$/.test(l)), 'thanks on the panel', 10_000);
      expect(panel.lines.filter((l) => / thanks$/.test(l))).toHaveLength(1);
      expect(panel.lines).toContain('LEVEL 4');

      const { stdout } = await exec(process.execPath, [CLI_PATH, 'device', 'status', '--data', dir, '--json']);
      const status = JSON.parse(stdout) as { enrolled: boolean; outbox: { lastSeq: number } };
      expect(status).toMatchObject({ enrolled: true, outbox: { lastSeq: 1 } });
      const text = await exec(process.execPath, [CLI_PATH, 'device', 'status', '--data', dir]);
      expect(text.stdout).toMatch(/last sequence 1/);
      expect(await stopProcess(agent, 'SIGTERM')).toBe(0);
    } finally {
      await stopProcess(agent, 'SIGKILL');
      for (const c of clients) c.destroy();
      server.close();
      await panel.close();
      await panelPty.close();
    }
  }, 60_000);
});

describe('haochaping device check (wiring, before enrolment)', () => {
  it('prints every press of the keypad and cycles the display; garbage is counted; SIGTERM ends it', async () => {
    const kp = await ptyPair(tmp, 'check-kp');
    const hw = await openHardwareEnd(kp.hardware, 9600);
    const child = spawn(
      process.execPath,
      [CLI_PATH, 'device', 'check', '--buttons', 'serial', '--keypad-port', kp.device, '--display', 'virtual', '--every', '0.2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    try {
      await waitFor(() => out.includes('reading 5 buttons with the serial driver'), 'the check to start', 20_000);
      await hw.write('K3\nD5\n');
      await sleep(100);
      await hw.write('U5\n??\n');
      await waitFor(
        () => out.includes('button 3 pressed') && out.includes('button 5 pressed') && out.includes('counted keypadGarbage'),
        'the presses',
        5000,
      );
      await waitFor(
        () => ['idle', 'prompt', 'reasons', 'thanks', 'paused', 'out-of-service'].every((s) => out.includes(`display: ${s}`)),
        'every screen',
        5000,
      );
      expect(await stopProcess(child, 'SIGTERM')).toBe(0);
    } finally {
      await stopProcess(child, 'SIGKILL');
      await hw.close();
      await kp.close();
    }
  });
});
