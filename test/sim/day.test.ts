import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';

describe('haochaping sim: a day at the hall, accelerated', () => {
  it('the queue system opens sessions, citizens rate or walk away, and every thanked rating reaches the province once', async () => {
    const args = ['sim', '--devices', '4', '--duration', '12', '--speed', '300', '--cases-per-hour', '20', '--seed', '11', '--json'];
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    const a = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | string>;
    expect(a, err).toMatchObject({ devices: 4, lost: 0, duplicated: 0, altered: 0, drained: true });
    expect(a.sessions as number).toBeGreaterThan(10);
    expect(a.pressed as number).toBeGreaterThan(5);
    // Each session ends rated or not rated (walked away); a few may still be open at the end.
    expect((a.pressed as number) + (a.notRated as number)).toBeLessThanOrEqual(a.sessions as number);
    expect((a.pressed as number) + (a.notRated as number)).toBeGreaterThanOrEqual((a.sessions as number) - 4);
    expect(a.forwarded).toBe(a.pressed);
    expect(err).toMatch(/sessions \d+/);
    expect(code).toBe(0);
  }, 120_000);
});
