import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';

describe('haochaping sim', () => {
  it('runs a whole hall and ends with one JSON line: nothing lost, nothing duplicated', async () => {
    const child = spawn(process.execPath, [CLI_PATH, 'sim', '--play', 'walk-up', '--devices', '3', '--duration', '4', '--interval', '0.7', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    const lines = out.trim().split('\n');
    expect(lines, err).toHaveLength(1);
    const account = JSON.parse(lines[0]!) as Record<string, number>;
    expect(account).toMatchObject({ devices: 3, lost: 0, duplicated: 0 });
    expect(account.pressed).toBeGreaterThan(5);
    expect(account.forwarded).toBe(account.pressed);
    expect(account.stored).toBe(account.pressed);
    expect(code).toBe(0);
    expect(err).toMatch(/forwarded/);
  }, 120_000);
});
