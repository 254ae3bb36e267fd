/**
 * `--display epaper` on the command line (the compiled CLI, as a process): options checked with
 * messages hall IT can act on, exit 2; a machine without the hardware gets one clear line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';

const tmp = mkdtempSync(join(tmpdir(), 'hcp-epdcli-'));
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

describe('haochaping device check/run --display epaper', () => {
  it('no --epaper-model is refused with a clear message and exit code 2', async () => {
    const r = await runCli(['device', 'check', '--display', 'epaper']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--display epaper needs --epaper-model: ssd1680, ssd1683, uc8179/);
  });

  it('on a machine without sysfs GPIO or spidev, device check says so in one line', async () => {
    const r = await runCli(['device', 'check', '--buttons', 'virtual', '--display', 'epaper', '--epaper-model', 'uc8179']);
    expect(r.code).not.toBe(0);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/haochaping device check: .*(sysfs GPIO|gpio|spidev)/i);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });
});
