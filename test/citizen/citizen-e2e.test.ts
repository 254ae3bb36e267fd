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
import { badRatingReceipt, citizenDevice, citizenHall, decodePng, postForm, provinceItems } from './helpers.js';

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
    // The page's own stylesheet applies under its strict CSP (inline, allowed by hash only).
    expect(await page.evaluate<string>("getComputedStyle(document.querySelector('button')).backgroundColor")).toBe('rgb(198, 40, 40)');
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
  }, 90_000);
});

describe('the wall, live', () => {
  it('text a citizen adds from the receipt appears beside that rating on an open wall, as text', async () => {
    const staff = await launch();
    try {
      const page = staff.page;
      await page.goto(`${hall.hubUrl}/login`);
      await page.fill('input[name=name]', 'li');
      await page.fill('input[name=password]', 'admin-pass-1234');
      await page.click('button[type=submit]');
      await page.waitForURL(/\/wall/);
      const { url, recordId } = await badRatingReceipt(hall, d);
      const li = page.locator(`#feed li[data-rating="${recordId}"]`);
      await li.waitFor();
      const words = '<b>二楼</b> 窗口排队无人引导';
      const r = await postForm(url, `text=${encodeURIComponent(words)}`);
      expect(r.status).toBe(200);
      await expect(li.locator('.citizen-text').textContent()).resolves.toBe(words);
      expect(await li.locator('b').count()).toBe(0);
    } finally {
      await staff.close();
    }
  }, 90_000);
});

describe('the public results page (公示) on the lobby screen', () => {
  it('at 1920×1080, without a log-in, shows the same counts as the staff statistics for this month, and no staff names', async () => {
    // A few more ratings: good ones and a 不满意.
    for (const button of [0, 0, 1]) {
      d.buttons.press(button);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor(
      () => (hall.hub!.db.prepare("SELECT count(*) AS n FROM ratings WHERE kind = 'rating'").get() as { n: number }).n === 5,
      'five ratings stored',
    );
    await waitFor(
      () =>
        hall.hub!.factSync.syncNow() >= 0 &&
        (hall.hub!.db.prepare('SELECT count(*) AS n FROM rating_facts').get() as { n: number }).n === 5,
      'five facts',
    );
    const lobby = await launch({ width: 1920, height: 1080 });
    const staff = await launch();
    try {
      const page = lobby.page;
      const r = await page.goto(`${hall.hubUrl}/citizen/results`);
      expect(r!.status()).toBe(200);
      expect(r!.headers()['set-cookie']).toBeUndefined();
      await shoot(page, 'citizen-04-results-1920');
      // Readable from across the hall: the headline numbers are large, and the page fits the screen's width.
      const size = await page.evaluate<number>("parseFloat(getComputedStyle(document.getElementById('total')).fontSize)");
      expect(size).toBeGreaterThanOrEqual(60);
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1920);
      expect(await page.locator('meta[http-equiv=refresh]').getAttribute('content')).toBe('60');

      // The staff statistics for the same month, through the hall page's own JSON.
      await staff.page.goto(`${hall.hubUrl}/login`);
      await staff.page.fill('input[name=name]', 'li');
      await staff.page.fill('input[name=password]', 'admin-pass-1234');
      await staff.page.click('button[type=submit]');
      await staff.page.waitForURL(/\/wall/);
      const stats = (await (await staff.page.request.get(`${hall.hubUrl}/api/hall/stats?preset=month`)).json()) as {
        summary: { total: number; bad: number; satisfaction: number | null };
        tables: Record<'window' | 'item' | 'channel', { key: string; counts: { total: number; bad: number } }[]>;
        orders: { n: number; late: number }[];
      };
      expect(stats.summary.total).toBe(5);
      expect(Number(await page.locator('#total').textContent())).toBe(stats.summary.total);
      expect(Number(await page.locator('#bad').textContent())).toBe(stats.summary.bad);
      expect(await page.locator('#satisfaction').textContent()).toBe(`${((stats.summary.satisfaction ?? 0) * 100).toFixed(1)}%`);
      for (const w of stats.tables.window) {
        const row = page.locator(`#windows tr[data-key="${w.key}"]`);
        expect(Number(await row.locator('.total').textContent())).toBe(w.counts.total);
        expect(Number(await row.locator('.bad-count').textContent())).toBe(w.counts.bad);
      }
      for (const c of stats.tables.channel.filter((x) => x.counts.total > 0))
        expect(Number(await page.locator(`#channels tr[data-key="${c.key}"] .total`).textContent())).toBe(c.counts.total);
      expect(Number(await page.locator('#orders-total').textContent())).toBe(stats.orders.reduce((s, o) => s + o.n, 0));
      expect(Number(await page.locator('#orders-overdue').textContent())).toBe(stats.orders.reduce((s, o) => s + o.late, 0));
      expect(await page.content()).not.toContain('李主任');

      // The wall's board link: the window's A5 board, its QR leading to the hub's page for the window.
      const board = await staff.page.request.get(`${hall.hubUrl}/boards/12.png`);
      expect(board.status()).toBe(200);
      const url = decodePng(Buffer.from(await board.body())).url;
      expect(url).toBe(`${hall.hubUrl}/citizen/w/12`);
      await page.goto(url!);
      await expect(page.locator('#window-page h1').textContent()).resolves.toContain('12 号窗口');
    } finally {
      await lobby.close();
      await staff.close();
    }
  }, 90_000);
});
