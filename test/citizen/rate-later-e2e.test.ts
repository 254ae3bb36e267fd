/**
 * A citizen who walked away rates from the prompt's "rate later" QR on a phone, in real Chromium:
 * before the QR deadline — after the 7-day default was already sent — the province receives the
 * correction; after the deadline the page says so and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../hub/ledger/verify.js';
import type { TestDevice, TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';
import { launch, shoot, type Browser } from '../web/browser.js';
import { citizenDevice, citizenHall, provinceItems, sessionWithQr } from './helpers.js';

const DAY = 86_400_000;
const clock = { t: Date.now() };
let hall: TestHall;
let d: TestDevice;
let phone: Browser;

beforeAll(async () => {
  // Defaults after 1 calendar day; the QR stays usable 7 (Ankang art. 11's supplementary period).
  hall = await citizenHall({
    now: () => clock.t,
    hubConfig: { defaults: { unit: 'calendar-days', count: 1 }, citizen: { period: { unit: 'calendar-days', count: 7 } } },
  });
  d = await citizenDevice(hall, '12', 'session');
  phone = await launch({ width: 390, height: 844 });
}, 90_000);
afterAll(async () => {
  await phone?.close();
  await hall?.close();
});

describe('rate later on a phone', () => {
  it('a walked-away session rated by QR after its default was sent supersedes the default: the province gets the correction', async () => {
    const { url, sessionId } = await sessionWithQr(hall, d, '12');
    clock.t += 2 * DAY;
    expect(hall.hub!.sessions.createDueDefaults()).toBe(1);
    hall.hub!.forwarder!.kick();
    await waitFor(async () => (await provinceItems(hall)).length === 1, 'the default at the province');

    const page = phone.page;
    await page.goto(url);
    await expect(page.locator('h1').first().textContent()).resolves.toBe('服务评价');
    await page.check('input[name=level][value="2"]');
    await page.check('input[name=reason][value="213"]');
    await page.fill('textarea[name=text]', '叫号后等了四十分钟');
    await shoot(page, 'citizen-05-rate-later-form');
    await page.click('button[type=submit]');
    await page.locator('#thanks').waitFor();

    await waitFor(async () => (await provinceItems(hall)).length === 2, 'the correction at the province');
    const [def, correction] = await provinceItems(hall);
    expect(def!.body).toMatchObject({ satisfaction: '3', assessNumber: '1' });
    expect(correction!.body).toMatchObject({
      satisfaction: '2',
      assessNumber: '2',
      pf: '3',
      evalDetail: '213',
      writingEvaluation: '叫号后等了四十分钟',
    });
    expect(correction!.received).toBe(1);
    expect(hall.hub!.sessions.get(sessionId)).toMatchObject({ state: 'corrected', counted: { kind: 'correction', level: 2 } });
    // The statistics count the QR rating instead of the default, and hub verify agrees with them.
    await waitFor(
      () => hall.hub!.factSync.syncNow() >= 0 && hall.hub!.web.workOrders.list({}).length === 1,
      'the work order of the late 差评',
    );
    const report = await verifyLedger(hall.hub!.db);
    expect(report.findings).toEqual([]);

    await page.goto(url);
    await expect(page.locator('#used h1').textContent()).resolves.toBe('已提交过');
  });

  it('after the deadline the page says so, the form is gone, and nothing is stored', async () => {
    const { url } = await sessionWithQr(hall, d, '12', ['BJ2026120100002']);
    const before = (hall.hub!.db.prepare('SELECT count(*) AS n FROM forward_queue').get() as { n: number }).n;
    clock.t += 8 * DAY;
    const page = phone.page;
    const r = await page.goto(url);
    expect(r!.status()).toBe(410);
    await expect(page.locator('#expired h1').textContent()).resolves.toBe('已超过评价期限');
    expect(await page.locator('form').count()).toBe(0);
    await shoot(page, 'citizen-06-expired');
    const post = await page.request.post(url, { form: { level: '5' } });
    expect(post.status()).toBe(410);
    expect(hall.hub!.db.prepare('SELECT count(*) AS n FROM citizen_submissions').get()).toEqual({ n: 1 });
    // Only the default of this session was added (its deadline passed too), no rating.
    hall.hub!.sessions.createDueDefaults();
    const kinds = hall.hub!.db.prepare('SELECT kind FROM forward_queue ORDER BY rowid').all() as { kind: string }[];
    expect(kinds.slice(before).map((k) => k.kind)).toEqual(['default']);
  });
});
