import { describe, expect, it } from 'vitest';
import {
  BUILTIN_CATALOGUE,
  DEFAULT_LEVEL,
  isBadReview,
  LEVEL_LABELS,
  LEVELS,
  reasonMatchesLevel,
  reasonsForLevel,
} from '../../protocol/index.js';

describe('rating levels', () => {
  it('number 5 非常满意 down to 1 非常不满意', () => {
    expect(LEVELS).toEqual([5, 4, 3, 2, 1]);
    expect(LEVEL_LABELS[5].zh).toBe('非常满意');
    expect(LEVEL_LABELS[3].zh).toBe('基本满意');
    expect(LEVEL_LABELS[1].zh).toBe('非常不满意');
  });

  it('levels 1 and 2 are 差评, 3–5 are not', () => {
    expect([1, 2, 3, 4, 5].map(isBadReview)).toEqual([true, true, false, false, false]);
  });

  it('the default for an unrated case is 基本满意', () => {
    expect(DEFAULT_LEVEL).toBe(3);
  });
});

describe('the preset reason catalogue', () => {
  it('has the national code ranges, eight per level, first digit = level', () => {
    const codes = (level: 1 | 2 | 3 | 4 | 5) => reasonsForLevel(BUILTIN_CATALOGUE, level).map((r) => Number(r.code));
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    expect(codes(5)).toEqual(range(510, 517));
    expect(codes(4)).toEqual(range(406, 413));
    expect(codes(3)).toEqual(range(307, 314));
    expect(codes(2)).toEqual(range(207, 214));
    expect(codes(1)).toEqual(range(108, 115));
    for (const r of BUILTIN_CATALOGUE.reasons) expect(reasonMatchesLevel(r.code, r.level)).toBe(true);
  });

  it('carries the national texts where they are known', () => {
    const text = (code: string) => BUILTIN_CATALOGUE.reasons.find((r) => r.code === code)?.text;
    expect(text('207')).toBe('没有提供材料样本');
    expect(text('213')).toBe('窗口人员业务不熟练');
    expect(text('214')).toBe('服务态度生硬');
    expect(text('115')).toBe('服务态度差效率低');
  });

  it('is versioned', () => {
    expect(BUILTIN_CATALOGUE.version).toMatch(/\S/);
  });
});
