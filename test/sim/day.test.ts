import { describe, expect, it } from 'vitest';
import { runSimCli } from './run-sim.js';

describe('haochaping sim: a day at the hall, accelerated', () => {
  it('the queue system opens sessions, citizens rate or walk away, and every thanked rating reaches the province once', async () => {
    const args = ['--devices', '4', '--duration', '12', '--speed', '300', '--cases-per-hour', '20', '--seed', '11', '--json'];
    const { code, stderr: err, account } = await runSimCli(args);
    const a = account as Record<string, number | string>;
    expect(a, err).toMatchObject({ devices: 4, lost: 0, duplicated: 0, altered: 0, drained: true });
    expect(a.sessions as number).toBeGreaterThan(10);
    expect(a.pressed as number).toBeGreaterThan(5);
    // Each session ends rated or not rated (walked away); a few may still be open at the end.
    expect((a.pressed as number) + (a.notRated as number)).toBeLessThanOrEqual(a.sessions as number);
    expect((a.pressed as number) + (a.notRated as number)).toBeGreaterThanOrEqual((a.sessions as number) - 4);
    expect(a.forwarded).toBe(a.pressed);
    expect(err).toMatch(/sessions \d+/);
    expect(a.sessionsVia, 'sessions opened through the hub API, as a queue system would').toBe('hub-api');
    expect(code).toBe(0);
  }, 120_000);
});
