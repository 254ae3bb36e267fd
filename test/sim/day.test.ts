import { describe, expect, it } from 'vitest';
import { runSimCli } from './run-sim.js';

describe('haochaping sim: a day at the hall, accelerated', () => {
  it('the queue system opens sessions, citizens rate, walk away or scan the QR, and every thanked rating and every accepted scan reaches the province once', async () => {
    // Citizens who give a 差评 or walk away scan the QR often here, so even a short day has scans.
    const args = [
      '--devices',
      '4',
      '--duration',
      '12',
      '--speed',
      '300',
      '--cases-per-hour',
      '20',
      '--seed',
      '11',
      '--scan-text',
      '1',
      '--rate-later',
      '1',
      '--json',
    ];
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
    // Scans on the hub's citizen page: each accepted one is at the province once (lost and duplicated count them too).
    const scanned = a.scanned as unknown as { followUps: number; late: number; atProvince: number };
    expect(scanned.followUps + scanned.late, err).toBeGreaterThan(0);
    expect(scanned.atProvince).toBe(scanned.followUps + scanned.late);
    expect(err).toMatch(/scanned: at the province/);
    expect(code).toBe(0);
  }, 120_000);
});
