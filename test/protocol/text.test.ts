import { describe, expect, it } from 'vitest';
import { DeviceConfigSchema, defaultDeviceConfig, displayText, unsafeDisplayChar } from '../../protocol/index.js';

describe('display text', () => {
  it('refuses every control and bidi-control character, naming it', () => {
    const bad = [
      0x00, 0x07, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x85, 0x9f, 0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d,
      0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
    ];
    for (const cp of bad) {
      const s = `窗口${String.fromCodePoint(cp)}12`;
      expect(unsafeDisplayChar(s), cp.toString(16)).toBe(`U+${cp.toString(16).toUpperCase().padStart(4, '0')}`);
      expect(displayText(32).safeParse(s).success).toBe(false);
    }
  });

  it('accepts Chinese, Latin, full-width and right-to-left names as they are', () => {
    for (const s of ['12', '不动产登记 12号窗口', 'Window 7-B', '１２号', 'ئابدۇرېھىم', 'שלום 3', '张三·李']) {
      expect(unsafeDisplayChar(s), s).toBeNull();
      expect(displayText(64).parse(s)).toBe(s);
    }
  });

  it('a device refuses a config whose window would display "21" as "12", or whose feedback link is not http(s)', () => {
    const ok = defaultDeviceConfig('hall', 'ev-001', '21');
    expect(DeviceConfigSchema.safeParse(ok).success).toBe(true);
    expect(DeviceConfigSchema.safeParse({ ...ok, window: '\u202e21' }).success).toBe(false);
    expect(DeviceConfigSchema.safeParse({ ...ok, windowName: '2\u20671\u2069' }).success).toBe(false);
    expect(DeviceConfigSchema.safeParse({ ...ok, feedbackUrl: 'javascript:alert(1)' }).success).toBe(false);
    expect(DeviceConfigSchema.safeParse({ ...ok, feedbackUrl: 'data:text/html,x' }).success).toBe(false);
    expect(DeviceConfigSchema.safeParse({ ...ok, feedbackUrl: 'https://hall.example/f' }).success).toBe(true);
  });
});
