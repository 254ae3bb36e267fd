/**
 * Misuse on the hall page in real headless Chromium, against a real hub and a device agent in
 * session mode: presses with no session open appear on the live wall struck through and flagged,
 * a burst of them raises the alert bar, and the statistics list them as kept but not counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHall, type TestDevice } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';
import { launch, shoot, type Browser } from './browser.js';

let hall: TestHall;
let browser: Browser;
let device: TestDevice;

beforeAll(async () => {
  hall = await TestHall.start({ hall: 'e2e-misuse' });
  await hall.hub!.web.users.add('test', { name: 'wall', role: 'viewer', password: 'viewer-pass-1234' });
  device = await hall.addDevice('07', {
    mode: 'session',
    windowName: '公积金',
    timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 },
  });
  browser = await launch();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await hall?.close();
});

describe('misuse on the hall page in a real browser', () => {
  it('sessionless presses show on the live wall flagged and not counted, a burst raises the alert bar, and the statistics list them', async () => {
    const page = browser.page;
    await page.goto(`${hall.hubUrl}/wall`);
    await page.waitForURL(/\/login/);
    await page.fill('input[name=name]', 'wall');
    await page.fill('input[name=password]', 'viewer-pass-1234');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/wall/);
    await expect.poll(() => page.locator('body').getAttribute('data-live'), { timeout: 15_000 }).toBe('open');

    // Three 非常满意 seconds apart, with no case finished at window 07.
    for (let i = 0; i < 3; i++) {
      await waitFor(() => device.display.current?.screen === 'idle', 'the staff card');
      device.buttons.press(0);
      await waitFor(() => device.stored.length === i + 1, `press ${i + 1} stored on the device`);
    }
    const ids = device.stored.map((r) => r.id);
    for (const id of ids) {
      const li = page.locator(`#feed li[data-rating="${id}"]`);
      await expect.poll(() => li.count(), { timeout: 15_000 }).toBe(1);
      expect(await li.getAttribute('class')).toContain('misuse');
      expect(await li.locator('[data-flag="no-session"]').count()).toBe(1);
    }
    await expect.poll(() => page.locator('#alert-bar').textContent(), { timeout: 15_000 }).toContain('3 次最高评价连续出现');
    // Not counted: today's total stays 0, the tile says 3 kept apart.
    expect(await page.locator('#k-today').textContent()).toBe('0');
    await expect.poll(() => page.locator('[data-device="' + device.id + '"]').textContent()).toContain('异常不计入 3');
    await shoot(page, '20-wall-misuse');

    await page.goto(`${hall.hubUrl}/stats?preset=today&flag=no-session`);
    await expect.poll(() => page.locator('#flagged tbody tr').count()).toBe(3);
    expect(await page.locator('#k-misuse').textContent()).toBe('3');
    expect(await page.locator('#k-total').textContent()).toBe('0');
    await shoot(page, '21-stats-flagged');
  }, 120_000);
});
