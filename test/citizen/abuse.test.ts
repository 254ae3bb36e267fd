/**
 * What the citizen page does with what it should not get: forged, unknown, reused and expired
 * links, oversized and malformed bodies, bursts past the rate limits, concurrent submits. Each
 * gets a clear page; nothing is stored twice; the hub keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestHall, TestDevice } from '../helpers/hall.js';
import { badRatingReceipt, citizenDevice, citizenHall, postForm } from './helpers.js';

const DAY = 86_400_000;
let hall: TestHall;
let d: TestDevice;
const clock = { t: Date.now() };

beforeAll(async () => {
  hall = await citizenHall({
    now: () => clock.t,
    hubConfig: { citizen: { limits: { perToken: { count: 6, windowS: 600 }, perAddress: { count: 400, windowS: 600 }, bodyBytes: 2048 } } },
  });
  d = await citizenDevice(hall, '7');
});
afterAll(async () => {
  await hall?.close();
});

const count = (sql: string) => (hall.hub!.db.prepare(sql).get() as { n: number }).n;
const followUps = () => count("SELECT count(*) AS n FROM forward_queue WHERE kind = 'follow-up'");

describe('links the hub did not make', () => {
  it('a forged MAC, an unknown record, a malformed link and a link of another device each get a clear page', async () => {
    const { url, recordId } = await badRatingReceipt(hall, d);
    const mac = url.split('/').pop()!;
    const forged = url.replace(/\/[\w-]{22}$/, '/' + (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1));
    const r1 = await fetch(forged);
    expect(r1.status).toBe(404);
    expect(await r1.text()).toContain('二维码无效');
    const r2 = await fetch(url.replace(recordId, '019a0000-0000-7000-8000-000000000000'));
    expect(r2.status).toBe(404);
    expect(await r2.text()).toContain('未找到此评价');
    const r3 = await fetch(`${hall.hubUrl}/citizen/r/${recordId}/short`);
    expect(r3.status).toBe(404);
    expect(await r3.text()).toContain('二维码无效');
    const r4 = await fetch(`${hall.hubUrl}/citizen/s/${d.id}/${mac}`);
    expect(r4.status).toBe(404);
    expect(await r4.text()).toContain('二维码无效');
    const r5 = await postForm(forged, 'reason=115');
    expect(r5.status).toBe(404);
    expect(followUps()).toBe(0);
  });
});

describe('bodies', () => {
  it('oversized, malformed, JSON and unknown-field bodies are refused with a page, and the link still works afterwards', async () => {
    const { url } = await badRatingReceipt(hall, d);
    const big = await postForm(url, 'text=' + 'x'.repeat(5000));
    expect(big.status).toBe(413);
    expect(await big.text()).toContain('内容过长');
    const bad = await postForm(url, 'text=%zz');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('提交有误');
    const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":["115"]}' });
    expect(json.status).toBe(415);
    expect(await postForm(url, 'reason=115&admin=1').then((r) => r.status)).toBe(400);
    const twice = await postForm(url, 'text=a&text=b');
    expect(twice.status).toBe(400);
    // 151 characters: refused on the form with the reason, what was typed kept.
    const long = await postForm(url, 'text=' + encodeURIComponent('长'.repeat(151)));
    expect(long.status).toBe(400);
    expect(await long.text()).toContain('最多 150 字');
    // A reason of another level is refused.
    const other = await postForm(url, 'reason=510');
    expect(other.status).toBe(400);
    expect(followUps()).toBe(0);
    // Nothing chosen: asked again.
    expect((await postForm(url, 'text=')).status).toBe(400);
    const ok = await postForm(url, 'reason=115');
    expect(ok.status).toBe(200);
    expect(followUps()).toBe(1);
  });
});

describe('one submission per link', () => {
  it('five concurrent submits of one link: exactly one is taken, the others are told it was used', async () => {
    const { url } = await badRatingReceipt(hall, d);
    const before = followUps();
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => postForm(url, `reason=11${i}&text=${i}`)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409]);
    expect(followUps()).toBe(before + 1);
    expect(count(`SELECT count(*) AS n FROM citizen_submissions WHERE link = 'r:${url.split('/').at(-2)}'`)).toBe(1);
  });

  it('a burst past the per-link limit gets 429 with Retry-After, and other links are still served', async () => {
    const { url } = await badRatingReceipt(hall, d);
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await fetch(url)).status);
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(statuses.slice(6)).toEqual([429, 429, 429]);
    const limited = await fetch(url);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited.text()).toContain('请求过于频繁');
    const other = await badRatingReceipt(hall, d);
    expect((await fetch(other.url)).status).toBe(200);
    expect((await fetch(`${hall.hubUrl}/api/health`)).status).toBe(200);
  });

  it('a receipt link expires with the period after the rating', async () => {
    const { url } = await badRatingReceipt(hall, d);
    clock.t += 9 * DAY;
    try {
      const r = await fetch(url);
      expect(r.status).toBe(410);
      expect(await r.text()).toContain('已超过评价期限');
      const before = followUps();
      expect((await postForm(url, 'reason=115')).status).toBe(410);
      expect(followUps()).toBe(before);
    } finally {
      clock.t -= 9 * DAY;
    }
  });
});

// Last in this file: it uses up this address's allowance.
describe('per-address limit', () => {
  it('one address past its limit gets 429 on every citizen page before any link is looked at; the rest of the hub still answers', async () => {
    const { url } = await badRatingReceipt(hall, d);
    const forged = (i: number) => `${hall.hubUrl}/citizen/r/019a0000-0000-7000-8000-${String(i).padStart(12, '0')}/${'A'.repeat(22)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 440; i += 40)
      statuses.push(...(await Promise.all(Array.from({ length: 40 }, (_, j) => fetch(forged(i + j)).then((r) => r.status)))));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 429).length).toBeLessThanOrEqual(400);
    // The real receipt is refused too now (the address is over), the token API and the hall page are not limited by it.
    expect((await fetch(url)).status).toBe(429);
    expect((await postForm(url, 'reason=115')).status).toBe(429);
    expect((await fetch(`${hall.hubUrl}/api/health`)).status).toBe(200);
    expect((await fetch(`${hall.hubUrl}/login`)).status).toBe(200);
  }, 60_000);
});
