import type { Level } from './levels.js';

/**
 * Preset reasons (评价内容). Nationally the list is uniform and versioned, and the first digit
 * of each code is the level it belongs to. The hub pushes the catalogue to devices as
 * configuration; this built-in copy is the default a new hall starts from, not a constant the
 * firmware relies on. Codes 207, 213, 214 and 115 carry the national texts; the others are
 * this project's wording until a hall loads its province's list.
 */
export interface Reason {
  code: string;
  level: Level;
  text: string;
}

export interface ReasonCatalogue {
  version: string;
  reasons: Reason[];
}

const TEXTS: Record<Level, [first: number, texts: string[]]> = {
  5: [
    510,
    [
      '办事指南准确清晰',
      '办理流程简便快捷',
      '材料一次告知到位',
      '窗口人员业务熟练',
      '服务态度热情周到',
      '等候时间短',
      '办理时限大幅压缩',
      '一次办成无需跑腿',
    ],
  ],
  4: [
    406,
    [
      '办事指南准确',
      '办理流程较简便',
      '材料告知较清楚',
      '窗口人员业务较熟练',
      '服务态度较好',
      '等候时间较短',
      '按承诺时限办结',
      '办事环境整洁',
    ],
  ],
  3: [
    307,
    [
      '办事指南基本清晰',
      '办理流程略繁琐',
      '材料告知基本清楚',
      '窗口人员业务基本熟练',
      '服务态度一般',
      '等候时间较长',
      '办理时限基本符合承诺',
      '办事环境一般',
    ],
  ],
  2: [
    207,
    [
      '没有提供材料样本',
      '办事指南不清晰',
      '办理流程繁琐',
      '材料多次补正',
      '等候时间过长',
      '超出承诺时限',
      '窗口人员业务不熟练',
      '服务态度生硬',
    ],
  ],
  1: [
    108,
    [
      '办事指南与实际不符',
      '多次往返仍未办成',
      '要求提供不必要材料',
      '推诿扯皮',
      '超时未办结',
      '存在吃拿卡要',
      '窗口无人或擅离岗位',
      '服务态度差效率低',
    ],
  ],
};

export const BUILTIN_CATALOGUE: ReasonCatalogue = {
  version: 'builtin-2026.1',
  reasons: (Object.entries(TEXTS) as unknown as [string, [number, string[]]][]).flatMap(([level, [first, texts]]) =>
    texts.map((text, i) => ({ code: String(first + i), level: Number(level) as Level, text })),
  ),
};

export function reasonsForLevel(catalogue: ReasonCatalogue, level: Level): Reason[] {
  return catalogue.reasons.filter((r) => r.level === level);
}

/** A reason code belongs to the level named by its first digit. */
export function reasonMatchesLevel(code: string, level: number): boolean {
  return /^[1-5]\d{2}$/.test(code) && Number(code[0]) === level;
}
