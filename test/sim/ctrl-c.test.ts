/**
 * Ending the sim the way a person does: Ctrl-C in a terminal, which signals the whole
 * foreground process group (so do `timeout -s INT`, `kill -- -PGID` and CI runners). The sim's
 * hub, stand-in province and device processes must not die with it: it drains, stops them itself
 * in order and gives the account; a second Ctrl-C stops everything at once. Every process of
 * the run is found by its data directory and checked by PID afterwards.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';
import { killProcessesMentioning, processesMentioning, running } from '../helpers/procs.js';
import { sleep, waitFor } from '../helpers/wait.js';

const SIM = [
  'sim',
  '--devices',
  '3',
  '--processes',
  '--play',
  'walk-up',
  '--interval',
  '1',
  '--mqtt-port',
  '0',
  '--http-port',
  '0',
  '--drain-timeout',
  '60',
  '--json',
];

let dir = '';
let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
  // Whatever a failed test left running: kill it by PID (only processes of this run's directory).
  killProcessesMentioning(dir);
  rmSync(dir, { recursive: true, force: true });
});

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

/** Waits until the sim's progress shows thanked presses, then lists every process of the run. */
async function runningHall(errFile: string): Promise<{ pid: number; cmd: string }[]> {
  await waitFor(() => /^run .* pressed [1-9]/m.test(read(errFile)), `presses in ${errFile}:\n${read(errFile)}`, 120_000, 200);
  const procs = processesMentioning(join(dir, 'data'));
  // The sim itself, the hub, the province and one process per device.
  expect(procs.filter((p) => / sim /.test(p.cmd))).toHaveLength(1);
  expect(procs.filter((p) => / hub /.test(p.cmd))).toHaveLength(1);
  expect(procs.filter((p) => / province /.test(p.cmd))).toHaveLength(1);
  expect(procs.filter((p) => / device run /.test(p.cmd))).toHaveLength(3);
  return procs;
}

describe('Ctrl-C', () => {
  it('in a terminal (tmux): the sim drains, stops devices, hub and province itself, prints a full account and exits 0; no process is left', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-ctrlc-'));
    const socket = `hcp-ctrlc-${process.pid}`;
    const tmux = (...a: string[]) => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
    // An interactive shell, as a person has: the command is its foreground job, Ctrl-C goes to that job's group.
    tmux('new-session', '-d', '-s', 'sim', '-x', '160', '-y', '40', 'bash --norc --noprofile');
    cleanup.push(() => {
      try {
        tmux('kill-server');
      } catch {
        /* gone */
      }
    });
    const cmd = [process.execPath, CLI_PATH, ...SIM, '--data', join(dir, 'data')].map((a) => `'${a}'`).join(' ');
    tmux('send-keys', '-t', 'sim', `${cmd} >${dir}/out 2>${dir}/err; echo $? >${dir}/rc`, 'Enter');
    const started = Date.now();

    const procs = await runningHall(join(dir, 'err'));
    // Ctrl-C after 20 s of play, as the check does (or later, if starting took longer).
    await sleep(Math.max(0, 20_000 - (Date.now() - started)));
    tmux('send-keys', '-t', 'sim', 'C-c');
    const sent = Date.now();
    await waitFor(() => existsSync(join(dir, 'rc')), 'the sim to exit after Ctrl-C', 90_000, 200);

    const err = read(join(dir, 'err'));
    expect(err).toMatch(/Ctrl-C — no new presses; draining/);
    expect(err).not.toMatch(/^\s+at /m); // no stack trace
    expect(err).not.toMatch(/again — stopping at once/); // one Ctrl-C is one Ctrl-C
    const account = JSON.parse(read(join(dir, 'out')).trim().split('\n').pop()!) as Record<string, number | boolean>;
    expect(account).toMatchObject({ devices: 3, lost: 0, duplicated: 0, altered: 0, drained: true });
    expect(account.pressed).toBeGreaterThan(0);
    expect(account.forwarded).toBe(account.pressed);
    expect(read(join(dir, 'rc')).trim()).toBe('0');
    expect(Date.now() - sent).toBeLessThan(75_000); // the drain time (60 s) plus stopping
    expect(procs.filter((p) => running(p.pid)).map((p) => p.cmd)).toEqual([]);
    expect(processesMentioning(join(dir, 'data'))).toEqual([]);
  }, 240_000);

  it('`timeout -s INT … haochaping sim --devices 3`, its time up: the sim drains and gives the account (lost 0, duplicated 0), exits 0 itself, and leaves no process', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-ctrlc-'));
    const data = join(dir, 'data');
    const err = join(dir, 'err');
    const fd = openSync(err, 'a');
    // timeout makes its own process group and sends SIGINT to all of it when the time is up, as
    // Ctrl-C does; --preserve-status hands on the sim's own exit code instead of timeout's 124.
    // Its time is up when its own alarm (SIGALRM) fires: the test fires it once presses are seen,
    // so a fixed duration long enough for a loaded machine (45 s here) is not waited out on a
    // quick one, nor cut short while the hub is still starting on a slow one.
    const sim: ChildProcess = spawn(
      'timeout',
      [
        '-s',
        'INT',
        '--preserve-status',
        '600',
        process.execPath,
        CLI_PATH,
        'sim',
        '--devices',
        '3',
        '--mqtt-port',
        '0',
        '--http-port',
        '0',
        '--drain-timeout',
        '60',
        '--json',
        '--data',
        data,
      ],
      { stdio: ['ignore', 'pipe', fd] },
    );
    closeSync(fd);
    let out = '';
    sim.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => sim.once('exit', (code) => r(code)));
    // While it runs: the sim, its hub and its province (the devices run inside the sim).
    await waitFor(() => /^run .* pressed [1-9]/m.test(read(err)), `presses in ${err}:\n${read(err)}`, 120_000, 200);
    const procs = processesMentioning(data);
    const node = procs.filter((p) => p.cmd.startsWith(process.execPath)); // not timeout itself
    expect(node.filter((p) => / sim /.test(p.cmd))).toHaveLength(1);
    expect(node.filter((p) => / hub /.test(p.cmd))).toHaveLength(1);
    expect(node.filter((p) => / province /.test(p.cmd))).toHaveLength(1);

    // GNU timeout takes SIGALRM as its time being up (coreutils timeout.c: the alarm's handler).
    await new Promise((r) => setTimeout(r, 3000)); // a few more presses in flight
    if (sim.exitCode === null && sim.signalCode === null) process.kill(sim.pid!, 'SIGALRM'); // else the checks below say why
    const code = await exited;
    expect(read(err)).toMatch(/Ctrl-C — no new presses; draining/);
    expect(read(err)).not.toMatch(/^\s+at /m);
    const account = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | boolean>;
    expect(account).toMatchObject({ devices: 3, lost: 0, duplicated: 0, altered: 0, drained: true });
    expect(account.pressed).toBeGreaterThan(0);
    expect(account.forwarded).toBe(account.pressed);
    expect(code).toBe(0);
    expect(procs.filter((p) => running(p.pid)).map((p) => p.cmd)).toEqual([]);
    expect(processesMentioning(data)).toEqual([]);
  }, 240_000);

  it('a second Ctrl-C to the whole group stops at once with one line, exit 130, and takes the children with it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-ctrlc-'));
    const out = openSync(join(dir, 'err'), 'a');
    // Its own session and group (setsid), as quickstart-check's `timeout -s INT` runs it; signals go to -pid.
    const sim: ChildProcess = spawn(process.execPath, [CLI_PATH, ...SIM, '--data', join(dir, 'data')], {
      stdio: ['ignore', 'ignore', out],
      detached: true,
    });
    closeSync(out);
    const exited = new Promise<number | null>((r) => sim.once('exit', (code) => r(code)));
    const procs = await runningHall(join(dir, 'err'));

    process.kill(-sim.pid!, 'SIGINT');
    await waitFor(() => /no new presses/.test(read(join(dir, 'err'))), 'the first Ctrl-C to be taken', 10_000);
    await sleep(1500);
    process.kill(-sim.pid!, 'SIGINT');
    const sent = Date.now();
    const code = await exited;
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(code).toBe(130);
    const err = read(join(dir, 'err'));
    expect(err).toMatch(/Ctrl-C again — stopping at once/);
    expect(err).not.toMatch(/^\s+at /m);
    await waitFor(() => procs.every((p) => !running(p.pid)), 'every process of the run to end', 5000);
    expect(processesMentioning(join(dir, 'data'))).toEqual([]);
  }, 240_000);
});
