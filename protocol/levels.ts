/** Rating levels as the national 好差评 system numbers them: 5 is best, 1 is worst. */
export const LEVELS = [5, 4, 3, 2, 1] as const;
export type Level = (typeof LEVELS)[number];

export const LEVEL_LABELS: Record<Level, { zh: string; en: string }> = {
  5: { zh: '非常满意', en: 'very satisfied' },
  4: { zh: '满意', en: 'satisfied' },
  3: { zh: '基本满意', en: 'basically satisfied' },
  2: { zh: '不满意', en: 'dissatisfied' },
  1: { zh: '非常不满意', en: 'very dissatisfied' },
};

/** The level a case gets when nobody rated it within the deadline (Hubei art. 12). */
export const DEFAULT_LEVEL: Level = 3; // 基本满意

/** Levels 1–2 are 差评: they need a reason and start a work order. */
export function isBadReview(level: number): boolean {
  return level === 1 || level === 2;
}

export function isLevel(n: unknown): n is Level {
  return typeof n === 'number' && (LEVELS as readonly number[]).includes(n);
}
