/**
 * A seeded random source, so a chaos run that failed can be run again the same way
 * (`--seed`). Mulberry32: tiny, fast, plenty for scheduling citizens and faults.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  /** Uniform in [min, max). */
  between(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** Exponentially distributed with this mean (gaps between independent arrivals). */
  exp(mean: number): number;
  /** One of the keys, with probability proportional to its weight. */
  weighted<T>(table: readonly (readonly [T, number])[]): T;
  chance(p: number): boolean;
  shuffle<T>(items: T[]): T[];
}

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    between: (min, max) => min + next() * (max - min),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    exp: (mean) => -Math.log(1 - next()) * mean,
    weighted: (table) => {
      const total = table.reduce((n, [, w]) => n + w, 0);
      let x = next() * total;
      for (const [k, w] of table) if ((x -= w) < 0) return k;
      return table[table.length - 1]![0];
    },
    chance: (p) => next() < p,
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [items[i], items[j]] = [items[j]!, items[i]!];
      }
      return items;
    },
  };
  return rng;
}
