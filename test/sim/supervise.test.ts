/**
 * The sim watches over the processes it started in groups of their own: a hub that dies under
 * it is said in one line and started again (the account stays whole), and if the sim itself is
 * SIGKILLed — no handler runs — its children still end, because the pipe it held closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';
import { killProcessesMentioning, processesMentioning, running } from '../helpers/procs.js';
import { waitFor } from '../helpers/wait.js';

let dir = '';
afterEach(() => {
  killProcessesMentioning(dir);
  rmSync(dir, { recursive: true, force: true });
});

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

function startSim(args: string[]): { sim: ChildProcess; exited: Promise<number | null>; out: () => string; err: () => string } {
  dir = mkdtempSync(join(tmpdir(), 'hcp-supervise-'));
  const err = openSync(join(dir, 'err'), 'a');
  const out = openSync(join(dir, 'out'), 'a');
  const sim = spawn(
    process.execPath,
    [
      CLI_PATH,
      'sim',
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
      '--data',
      join(dir, 'data'),
      ...args,
    ],
    { stdio: ['ignore', out, err], detached: true },
  );
  closeSync(err);
  closeSync(out);
  const exited = new Promise<number | null>((r) => sim.once('exit', (code) => r(code)));
  return { sim, exited, out: () => read(join(dir, 'out')), err: () => read(join(dir, 'err')) };
}

describe('the sim supervises its processes', () => {
  it('a hub that dies under the sim is reported in one line and restarted; the run still ends with nothing lost or duplicated', async () => {
    const { sim, exited, out, err } = startSim(['--devices', '2']);
    await waitFor(() => /^run .* pressed [1-9]/m.test(err()), `presses:\n${err()}`, 120_000, 200);
    const hub = processesMentioning(join(dir, 'data', 'hub')).filter((p) => / hub /.test(p.cmd));
    expect(hub).toHaveLength(1);
    process.kill(hub[0]!.pid, 'SIGKILL');
    await waitFor(() => /the hub is running again/.test(err()), `the hub's restart:\n${err()}`, 60_000, 200);
    expect(err()).toMatch(/sim: the hub exited unexpectedly \(killed by SIGKILL; see .*hub\.log\); starting it again/);
    await waitFor(() => /^run .* forwarded [1-9]/m.test(err().split('running again')[1] ?? ''), 'progress after the restart', 60_000, 200);

    process.kill(-sim.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    const account = JSON.parse(out().trim().split('\n').pop()!) as Record<string, unknown>;
    expect(account).toMatchObject({ lost: 0, duplicated: 0, altered: 0, drained: true });
    expect(err()).not.toMatch(/^\s+at /m);
    expect(processesMentioning(join(dir, 'data'))).toEqual([]);
  }, 240_000);

  it('a SIGKILLed sim leaves no hub, province or device process behind', async () => {
    const { sim, exited, err } = startSim(['--devices', '1', '--processes']);
    await waitFor(() => /evaluators enrolled and running/.test(err()), `the hall to start:\n${err()}`, 120_000, 200);
    const procs = processesMentioning(join(dir, 'data')).filter((p) => p.pid !== sim.pid);
    expect(procs.map((p) => p.cmd.match(/ (hub|province|device run) /)?.[1]).sort()).toEqual(['device run', 'hub', 'province']);
    sim.kill('SIGKILL');
    await exited;
    await waitFor(() => procs.every((p) => !running(p.pid)), 'the children to end after their parent', 20_000, 100);
    expect(processesMentioning(join(dir, 'data'))).toEqual([]);
  }, 240_000);
});
