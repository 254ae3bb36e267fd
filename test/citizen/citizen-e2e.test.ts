/**
 * The citizen's channels in real headless Chromium (Debian's), against a real hub, a real device
 * agent and the stand-in province: a phone opens the receipt QR of a 差评 and adds two reasons
 * and text; the province receives the follow-up once; staff see the text escaped on the work
 * order and the wall.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDevice, TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';
import { launch, shoot, type Browser } from '../web/browser.js';
import { badRatingReceipt, citizenDevice, citizenHall, provinceItems } from './helpers.js';

const XSS = '<img src=x onerror=alert(1)>';
const PHONE = { width: 390, height: 844 };

let hall: TestHall;
let d: TestDevice;
let phone: Browser;

beforeAll(async () => {
  hall = await citizenHall();
  await hall.hub!.web.users.add('test', { name: 'li', role: 'admin', password: 'admin-pass-1234', displayName: '李主任' });
  d = await citizenDevice(hall, '12');
  phone = await launch(PHONE);
}, 90_000);

afterAll(async () => {
  await phone?.close();
  await hall?.close();
});

describe('the receipt QR on a phone', () => {
  it('a 差评’s receipt: two reasons and text added on a phone reach the province once, as the follow-up with that text', async () => {
    const { url, recordId } = await badRatingReceipt(hall, d);
    const page = phone.page;
    const dialogs: string[] = [];
    page.on('dialog', (dlg) => {
      dialogs.push(dlg.message());
      void dlg.dismiss();
    });
    await page.goto(url);
    await expect(page.locator('h1').first().textContent()).resolves.toBe('补充差评意见');
    // Laid out for the phone: nothing wider than the viewport.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
    await page.check('input[name=reason][value="115"]');
    await page.check('input[name=reason][value="113"]');
    await page.fill('textarea[name=text]', XSS);
    await shoot(page, 'citizen-01-receipt-form');
    await page.click('button[type=submit]');
    await page.locator('#thanks').waitFor();
    await shoot(page, 'citizen-02-thanks');
    expect(await phone.context.cookies()).toEqual([]);

    await waitFor(async () => (await provinceItems(hall)).length === 2, 'the rating and its follow-up at the province');
    await new Promise((r) => setTimeout(r, 300));
    const items = await provinceItems(hall);
    expect(items).toHaveLength(2);
    const followUp = items.find((i) => i.body.assessNumber === '2')!;
    expect(followUp.received).toBe(1);
    expect(followUp.body).toMatchObject({ pf: '3', satisfaction: '1', evalDetail: '113,115', writingEvaluation: XSS });
    expect(items.find((i) => i.body.assessNumber === '1')!.body.evaluationId).toBe(recordId);

    // Back with the same link: used.
    await page.goto(url);
    await expect(page.locator('#used h1').textContent()).resolves.toBe('已提交过');
    expect(dialogs).toEqual([]);
  });

  it('staff see the citizen’s text escaped on the work order and beside the rating on the wall', async () => {
    const staff = await launch();
    try {
      const page = staff.page;
      const dialogs: string[] = [];
      page.on('dialog', (dlg) => {
        dialogs.push(dlg.message());
        void dlg.dismiss();
      });
      await page.goto(`${hall.hubUrl}/login`);
      await page.fill('input[name=name]', 'li');
      await page.fill('input[name=password]', 'admin-pass-1234');
      await page.click('button[type=submit]');
      await page.waitForURL(/\/wall/);
      await waitFor(() => hall.hub!.web.workOrders.list({}).length >= 1, 'the work order of the 差评');
      const order = hall.hub!.web.workOrders.list({})[0]!;
      await page.goto(`${hall.hubUrl}/workorders/${order.id}`);
      const quote = page.locator('#citizen-additions .citizen-text');
      await expect(quote.textContent()).resolves.toBe(XSS);
      expect(await page.locator('#citizen-additions img').count()).toBe(0);
      await expect(page.locator('#citizen-additions').textContent()).resolves.toContain('115');
      await shoot(page, 'citizen-03-workorder');

      await page.goto(`${hall.hubUrl}/wall`);
      const wallQuote = page.locator('#feed .citizen-text').first();
      await expect(wallQuote.textContent()).resolves.toBe(XSS);
      expect(await page.locator('#feed img').count()).toBe(0);
      expect(dialogs).toEqual([]);
    } finally {
      await staff.close();
    }
  });
});
