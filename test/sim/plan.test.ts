import { describe, expect, it } from 'vitest';
import { countByKind, FAULT_KINDS, planFaults } from '../../simulator/chaos/plan.js';
import { seededRng } from '../../simulator/util/random.js';

describe('the chaos plan', () => {
  const plan = (seed: number, durationMs = 60_000) =>
    planFaults({ durationMs, devices: 20, kinds: FAULT_KINDS, meanGapMs: 6000, rng: seededRng(seed) });

  it('has every fault kind at least once, for any seed', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const counts = countByKind(plan(seed));
      for (const k of FAULT_KINDS) expect(counts[k], `seed ${seed} ${k}`).toBeGreaterThanOrEqual(1);
    }
  });

  it('ends every fault before the run ends, so the run finishes healed', () => {
    for (let seed = 1; seed <= 50; seed++) for (const f of plan(seed)) expect(f.at + f.durationMs).toBeLessThanOrEqual(60_000 * 0.95 + 1);
  });

  it('targets existing devices, and the same seed gives the same plan', () => {
    for (const f of plan(3)) for (const d of f.devices) (expect(d).toBeGreaterThanOrEqual(0), expect(d).toBeLessThan(20));
    expect(plan(3)).toEqual(plan(3));
    expect(plan(3)).not.toEqual(plan(4));
  });
});
