/**
 * The promise, end to end under faults: a bounded chaos run of the real CLI — 20 evaluators,
 * each its own process, 60 s of citizens pressing while devices and the hub are SIGKILLed and
 * restarted, devices' network is cut and blackholed, the province goes down, devices' disks
 * fill up — ends with every thanked press at the province exactly once.
 * The long run (npm run chaos:long) is documented in the README.
 */
import { describe, expect, it } from 'vitest';
import { FAULT_KINDS } from '../../simulator/chaos/plan.js';
import { runSimCli } from './run-sim.js';

const canMount = process.getuid?.() === 0;

describe('chaos run (bounded, in CI)', () => {
  it('20 devices, 60 s, every fault kind: lost 0, duplicated 0, nothing altered', async () => {
    const args = [
      '--chaos',
      '--devices',
      '20',
      '--duration',
      '60',
      '--play',
      'walk-up',
      '--interval',
      '2',
      '--fault-gap',
      '6',
      '--seed',
      '20240607',
      '--drain-timeout',
      '240',
      '--json',
    ];
    const { code, lines, stderr: err, account } = await runSimCli(args);
    expect(lines, err.slice(-3000)).toHaveLength(1);
    const a = account as {
      pressed: number;
      forwarded: number;
      stored: number;
      unreported: number;
      deviceCrashes: number;
      faults: Record<string, number>;
    };
    expect(a, err.slice(-3000)).toMatchObject({ devices: 20, lost: 0, duplicated: 0, altered: 0, rejected: 0, drained: true });
    expect(a.pressed).toBeGreaterThan(200);
    expect(a.forwarded).toBe(a.pressed);
    // What the hub stored is every thanked press, plus any committed just before a kill.
    expect(a.stored).toBe(a.pressed + a.unreported);
    for (const k of FAULT_KINDS) {
      if (k === 'disk-full' && !canMount) continue;
      expect(a.faults[k], `fault ${k} injected`).toBeGreaterThanOrEqual(1);
    }
    expect(a.deviceCrashes, 'no device process died on its own').toBe(0);
    expect(code).toBe(0);
    expect(err).toMatch(/faults \d+ \[/); // the progress line showed faults while they were active
  }, 420_000);
});
