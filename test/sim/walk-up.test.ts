import { describe, expect, it } from 'vitest';
import { runSimCli } from './run-sim.js';

describe('haochaping sim', () => {
  it('runs a whole hall and ends with one JSON line: nothing lost, nothing duplicated', async () => {
    const {
      code,
      lines,
      stderr: err,
      account,
    } = await runSimCli(['--play', 'walk-up', '--devices', '3', '--duration', '8', '--interval', '0.7', '--json']);
    expect(lines, err).toHaveLength(1);
    const a = account as Record<string, number>;
    expect(a).toMatchObject({ devices: 3, lost: 0, duplicated: 0 });
    expect(a.pressed).toBeGreaterThan(5);
    expect(a.forwarded).toBe(a.pressed);
    expect(a.stored).toBe(a.pressed);
    expect(code).toBe(0);
    expect(err).toMatch(/forwarded/);
  }, 120_000);
});
