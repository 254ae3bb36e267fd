import { describe, expect, it } from 'vitest';
import type { Frame } from '../../device/display/types.js';
import { buttonFor, reasonStep } from '../../simulator/citizens.js';

type Reasons = Extract<Frame, { screen: 'reasons' }>;
const reason = (code: string) => ({ code, level: Number(code[0]) as 1 | 2, text: `reason ${code}` });
const page = (page: number, pages: number, codes: string[], selected: string[] = []): Reasons => ({
  screen: 'reasons',
  text: '请选择不满意的原因',
  level: 2,
  page,
  pages,
  qr: null,
  options: [
    ...codes.map((c, i) => ({ button: i, reason: reason(c), selected: selected.includes(c) })),
    ...(page + 1 < pages ? [{ button: 3, reason: null, action: 'next' as const }] : []),
    { button: 4, reason: null, action: 'done' as const },
  ],
});

describe('a citizen on the device screens', () => {
  it('presses the button the prompt shows for the level, whatever the button map', () => {
    const prompt: Extract<Frame, { screen: 'prompt' }> = {
      screen: 'prompt',
      text: '请评价',
      staff: null,
      cases: [],
      levels: [
        { button: 0, level: 1, label: '不满意' },
        { button: 1, level: 3, label: '基本满意' },
        { button: 2, level: 5, label: '满意' },
      ],
    };
    expect(buttonFor(prompt, 5)).toBe(2);
    expect(buttonFor(prompt, 1)).toBe(0);
    expect(buttonFor(prompt, 2)).toBe(0); // a 3-button hall: the nearest level it offers
  });

  it('picks the wanted reasons, pages on to find the rest, then confirms', () => {
    expect(reasonStep(page(0, 2, ['207', '208', '209']), ['208', '213'], false)).toBe(1);
    expect(reasonStep(page(0, 2, ['207', '208', '209'], ['208']), ['208', '213'], false)).toBe(3); // next page for 213
    expect(reasonStep(page(1, 2, ['213', '214']), ['208', '213'], false)).toBe(0);
    expect(reasonStep(page(1, 2, ['213', '214'], ['213']), ['208', '213'], false)).toBe(4); // done
  });

  it('skips with the skip action, or confirms with nothing picked', () => {
    const f = page(0, 1, ['207']);
    expect(reasonStep({ ...f, options: [...f.options, { button: 3, reason: null, action: 'skip' }] }, [], true)).toBe(3);
    expect(reasonStep(f, [], true)).toBe(4);
  });
});
