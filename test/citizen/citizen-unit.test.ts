/** The citizen page's pure parts: the text it stores, the form it accepts, its request windows, its links. */
import { describe, expect, it } from 'vitest';
import { rateLaterLink, receiptLink, receiptMac } from '../../common/receipt-link.js';
import { cleanText } from '../../hub/citizen/desk.js';
import { CitizenKeys } from '../../hub/citizen/keys.js';
import { WindowLimiter } from '../../hub/citizen/limits.js';
import { parseForm } from '../../hub/citizen/routes.js';

describe('the citizen text', () => {
  it('loses control, bidi-control and zero-width characters; line breaks become one space; stays within 150 characters', () => {
    expect(cleanText('  办事\r\n效率\t低\u0000\u202e\u200b\ufeff  ')).toBe('办事 效率 低');
    expect(cleanText('\u0007\u202a ')).toBeNull();
    expect(cleanText('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>'); // stored as written; escaped where shown
    expect(cleanText('长'.repeat(150))).toHaveLength(150);
    expect(() => cleanText('长'.repeat(151))).toThrow(/最多 150 字/);
    expect([...cleanText('😀'.repeat(150))!]).toHaveLength(150); // counted as characters, not UTF-16 units
    expect(cleanText('a\ud800b')).toBe('ab'); // a lone surrogate cannot be stored as UTF-8
  });
});

describe('the form parser', () => {
  it('takes repeated reasons, one text and one level; refuses unknown fields, repeats and broken escapes', () => {
    expect(parseForm('reason=115&reason=113&text=%E5%B7%AE&level=2')).toEqual({ reason: ['115', '113'], text: '差', level: '2' });
    expect(() => parseForm('text=a&text=b')).toThrow(/twice/);
    expect(() => parseForm('reason=1&is_admin=1')).toThrow(/unknown field/);
    expect(() => parseForm('text=%zz')).toThrow(/percent/);
    expect(() => parseForm(Array.from({ length: 51 }, () => 'reason=1').join('&'))).toThrow(/too many/);
  });
});

describe('request windows', () => {
  it('allow count requests per window, then say how long to wait; a new window starts afresh', () => {
    let t = 0;
    const l = new WindowLimiter(3, 10_000, () => t);
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBe(10);
    expect(l.take('b')).toBe(0);
    t = 10_000;
    expect(l.take('a')).toBe(0);
  });

  it('a flood of distinct keys does not grow memory without bound', () => {
    const l = new WindowLimiter(1, 60_000, () => 0, 100);
    for (let i = 0; i < 1000; i++) l.take(`k${i}`);
    expect((l as unknown as { hits: Map<string, unknown> }).hits.size).toBeLessThanOrEqual(100);
  });
});

describe('links', () => {
  const keys = new CitizenKeys(Buffer.alloc(32, 7), 'hall-1');
  it('each device has its own key; a MAC made with one device key does not verify for another', () => {
    const a = keys.deviceKey('dev-a');
    expect(a).toMatch(/^[\w-]{43}$/);
    expect(keys.deviceKey('dev-b')).not.toBe(a);
    const mac = receiptMac(a, 'r', 'rec-1');
    expect(keys.verify('dev-a', 'r', 'rec-1', mac)).toBe(true);
    expect(keys.verify('dev-b', 'r', 'rec-1', mac)).toBe(false);
    expect(keys.verify('dev-a', 's', 'rec-1', mac)).toBe(false); // a receipt MAC is not a session MAC
    expect(keys.verify('dev-a', 'r', 'rec-2', mac)).toBe(false);
  });

  it('another hall secret makes other keys', () => {
    expect(new CitizenKeys(Buffer.alloc(32, 8), 'hall-1').deviceKey('dev-a')).not.toBe(keys.deviceKey('dev-a'));
  });

  it('links keep the base path whatever its trailing slash and drop its query', () => {
    const k = keys.deviceKey('d');
    expect(receiptLink('https://gw.example/hcp/citizen', k, 'r1')).toMatch(/^https:\/\/gw\.example\/hcp\/citizen\/r\/r1\/[\w-]{22}$/);
    expect(receiptLink('https://gw.example/hcp/citizen/?x=1', k, 'r1')).toBe(receiptLink('https://gw.example/hcp/citizen', k, 'r1'));
    expect(rateLaterLink('https://gw.example/c/', k, 'd', 'Q-1')).toMatch(/^https:\/\/gw\.example\/c\/s\/d\/[\w-]{22}$/);
  });
});
