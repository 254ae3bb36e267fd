/**
 * The chaos plan: which fault happens when, to whom, for how long. Pure — made up front from
 * a seed, so a run can be repeated and the plan tested without processes.
 */
import type { Rng } from '../util/random.js';

export const FAULT_KINDS = ['device-kill', 'hub-kill', 'net-cut', 'net-blackhole', 'province-down', 'province-flaky', 'disk-full'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  /** ms after the start of the run. */
  at: number;
  kind: FaultKind;
  /** How long the fault lasts (downtime before restart, or until the network / disk is back). */
  durationMs: number;
  /** Device indexes hit (device-kill, net-*, disk-full); empty for hub and province. */
  devices: number[];
}

/** How long each kind of fault lasts, ms [min, max]: long enough to matter, short enough to recover within a run. */
const DURATION: Record<FaultKind, [number, number]> = {
  'device-kill': [200, 3000],
  'hub-kill': [500, 4000],
  'net-cut': [1000, 10_000],
  'net-blackhole': [2000, 12_000],
  'province-down': [2000, 15_000],
  'province-flaky': [3000, 15_000],
  'disk-full': [2000, 8000],
};

export interface PlanOptions {
  durationMs: number;
  devices: number;
  kinds: readonly FaultKind[];
  /** Mean gap between faults (exponential), ms. */
  meanGapMs: number;
  rng: Rng;
}

/**
 * Every kind happens at least once, spread over the first three quarters of the run; more
 * faults follow at random. All faults end before 95 % of the run, so the run ends healed.
 */
export function planFaults(o: PlanOptions): Fault[] {
  const { rng } = o;
  const end = o.durationMs * 0.95;
  const make = (at: number, kind: FaultKind): Fault => {
    const [lo, hi] = DURATION[kind];
    const durationMs = Math.max(100, Math.min(rng.between(lo, hi), end - at));
    let devices: number[] = [];
    if (kind === 'device-kill' || kind === 'disk-full') devices = [rng.int(0, o.devices - 1)];
    else if (kind === 'net-cut' || kind === 'net-blackhole') {
      // A cut hits one window's cable, or a switch serving a group of windows.
      const n = rng.chance(0.5) ? 1 : rng.int(1, Math.max(1, Math.ceil(o.devices / 4)));
      devices = rng
        .shuffle([...Array(o.devices).keys()])
        .slice(0, n)
        .sort((a, b) => a - b);
    }
    return { at: Math.round(at), kind, durationMs: Math.round(durationMs), devices };
  };
  const faults: Fault[] = [];
  const first = rng.shuffle([...o.kinds]);
  first.forEach((kind, i) => faults.push(make(o.durationMs * (0.05 + (0.7 * (i + rng.next())) / first.length), kind)));
  for (let at = rng.exp(o.meanGapMs); at < o.durationMs * 0.85; at += rng.exp(o.meanGapMs)) faults.push(make(at, rng.pick(o.kinds)));
  return faults.sort((a, b) => a.at - b.at);
}

export function countByKind(faults: readonly { kind: FaultKind }[]): Record<FaultKind, number> {
  const out = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  for (const f of faults) out[f.kind]++;
  return out;
}
