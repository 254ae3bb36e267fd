/**
 * The hall web page end to end, in real headless Chromium against a real hub with real device
 * agents — one of them a separate `haochaping device run` process that is stopped and started
 * again. The test looks at rendered pixels (badge colours, the chart, the overdue row), saves a
 * screenshot of every page to artifacts/screenshots/, and drives everything through the page.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, spawnCli, stopProcess } from '../../simulator/processes.js';
import { FAST_WALK_UP, TestHall, type TestDevice } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';
import { dominantColour, inkShare, isGreen, isRed, launch, shoot, type Browser } from './browser.js';

let hall: TestHall;
let browser: Browser;
let window01: TestDevice;
let agent02: ChildProcess | null = null;
let dir02 = '';
const STAFF = { id: 'S0101', name: '王芳', number: '0101', photo: null };

function runAgent(): ChildProcess {
  return spawnCli(
    ['device', 'run', '--data', dir02, '--buttons', 'virtual', '--display', 'virtual', '--clock-synced', '--log-level', 'warn'],
    join(hall.dir, 'agent-02.log'),
  );
}

beforeAll(async () => {
  hall = await TestHall.start({ hall: 'e2e-hall' });
  const web = hall.hub!.web;
  await web.users.add('test', { name: 'zhang', role: 'supervisor', password: 'supervisor-pass-1', displayName: '张督办' });
  await web.users.add('test', { name: 'li', role: 'admin', password: 'admin-pass-1234', displayName: '李主任' });
  window01 = await hall.addDevice('01', { ...FAST_WALK_UP, staff: STAFF, windowName: '不动产登记' });

  // Window 02's evaluator runs as its own process, enrolled through the real CLI.
  const { token } = await hall.api<{ token: string }>('/api/devices', {
    window: '02',
    settings: { ...FAST_WALK_UP, windowName: '社保医保' },
  });
  dir02 = join(hall.dir, 'agent-02');
  mkdirSync(dir02, { recursive: true });
  const enrol = spawn(process.execPath, [CLI_PATH, 'device', 'enrol', '--data', dir02, '--hub', hall.hubUrl, '--token', token], {
    stdio: 'ignore',
  });
  expect(await new Promise((res) => enrol.on('exit', res))).toBe(0);
  agent02 = runAgent();
  browser = await launch();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (agent02) await stopProcess(agent02);
  await hall?.close();
});

/** A citizen gives a 差评 and picks the first reason on the reasons screen, then 确认. */
function badReview(d: TestDevice, button: number): void {
  d.buttons.press(button); // 非常不满意 (4) or 不满意 (3): the reasons screen opens
  d.buttons.press(0); // the first reason of that level
  d.buttons.press(4); // 确认
}

async function login(name: string, password: string): Promise<void> {
  const page = browser.page;
  await page.goto(`${hall.hubUrl}/wall`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/wall/);
}

describe('the hall web page in a real browser', () => {
  it('refuses a wrong password, then logs in and shows the wall', async () => {
    const page = browser.page;
    await page.goto(`${hall.hubUrl}/wall`);
    await page.waitForURL(/\/login/);
    await shoot(page, '01-login');
    await page.fill('input[name=name]', 'zhang');
    await page.fill('input[name=password]', 'wrong-password');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('.flash.error').textContent()).toContain('账号或密码错误');
    await login('zhang', 'supervisor-pass-1');
    await expect.poll(() => page.locator('header .who').textContent()).toContain('张督办');
  }, 60_000);

  it('shows a window go offline when its device process stops, and come back', async () => {
    const page = browser.page;
    const tile = page.locator('[data-device="ev-002"]');
    await expect.poll(() => tile.getAttribute('data-state'), { timeout: 20_000 }).toBe('online');
    await expect.poll(() => page.locator('[data-device="ev-001"]').getAttribute('data-state'), { timeout: 20_000 }).toBe('online');
    await page.evaluate('window.marker = 42'); // survives only without a reload
    await shoot(page, '02-wall-online');
    expect(isGreen(await dominantColour(tile.locator('[data-role=status]')))).toBe(true);
    await expect.poll(() => page.locator('[data-device="ev-001"] .staff').textContent()).toContain('王芳');

    await stopProcess(agent02!, 'SIGTERM');
    agent02 = null;
    await expect.poll(() => tile.getAttribute('data-state'), { timeout: 20_000 }).toBe('offline');
    await expect.poll(() => tile.locator('[data-role=status]').textContent()).toBe('离线');
    await shoot(page, '03-wall-offline');
    const offline = await dominantColour(tile.locator('[data-role=status]'));
    expect(isRed(offline), `offline badge colour ${JSON.stringify(offline)}`).toBe(true);
    await expect.poll(() => page.locator('#k-online').textContent()).toBe('1/2');

    agent02 = runAgent();
    await expect.poll(() => tile.getAttribute('data-state'), { timeout: 30_000 }).toBe('online');
    expect(isGreen(await dominantColour(tile.locator('[data-role=status]')))).toBe(true);
    expect(await page.evaluate('window.marker')).toBe(42);
  }, 90_000);

  it('shows a new rating live, without a reload', async () => {
    const page = browser.page;
    const before = await page.locator('#feed li').count();
    window01.buttons.press(0); // 非常满意
    await waitFor(() => window01.stored.length === 1, 'the press to be stored on the device');
    const id = window01.stored[0]!.id;
    await expect.poll(() => page.locator(`#feed li[data-rating="${id}"]`).count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('#feed li').count()).toBe(before + 1);
    await expect.poll(() => page.locator('[data-device="ev-001"] [data-role=last]').textContent()).toContain('非常满意');
    await expect.poll(() => page.locator('#k-today').textContent()).toBe('1');
    expect(await page.evaluate('window.marker')).toBe(42);
    await shoot(page, '04-wall-new-rating');
  }, 60_000);

  it("shows staff logging in and out and a window paused as the queue system says so through the hub's window API", async () => {
    const page = browser.page;
    const tile = page.locator('[data-device="ev-001"]');
    const windowApi = async (method: 'PUT' | 'DELETE' | 'POST', path: string, body?: unknown) => {
      const r = await fetch(`${hall.hubUrl}/api/windows/01/${path}`, {
        method,
        headers: { authorization: `Bearer ${hall.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(r.status, await r.text()).toBe(200);
    };
    // Staff on duty: each change is a new config pushed to the device, and the tile follows it.
    await windowApi('PUT', 'staff', { id: 'S0102', name: '李强', number: '0102' });
    await expect.poll(() => tile.locator('.staff').textContent(), { timeout: 10_000 }).toContain('李强（0102）');
    await windowApi('DELETE', 'staff');
    await expect.poll(() => tile.locator('.staff').textContent(), { timeout: 10_000 }).toBe('无人在岗');
    await windowApi('PUT', 'staff', STAFF);
    await expect.poll(() => tile.locator('.staff').textContent(), { timeout: 10_000 }).toContain('王芳');

    await windowApi('POST', 'pause');
    await expect.poll(() => tile.getAttribute('data-state'), { timeout: 10_000 }).toBe('paused');
    expect(await tile.locator('[data-role=status]').textContent()).toBe('暂停');
    const c = await dominantColour(tile.locator('[data-role=status]'));
    expect(c.r > 150 && c.g > 80 && c.g < 140 && c.b < 60, `paused badge colour ${JSON.stringify(c)}`).toBe(true); // amber
    await expect.poll(() => page.locator('#k-paused').textContent()).toBe('1');
    await shoot(page, '05a-wall-paused');
    await windowApi('POST', 'resume');
    await expect.poll(() => tile.getAttribute('data-state'), { timeout: 10_000 }).toBe('online');
    expect(await page.evaluate('window.marker')).toBe(42); // all of it live, no reload
  }, 60_000);

  it('takes a 差评 through verify → rectify → revisit → closed', async () => {
    const page = browser.page;
    badReview(window01, 4); // 非常不满意, reason 108
    await waitFor(() => window01.stored.length === 2, 'the 差评 to be stored');
    expect(window01.stored[1]).toMatchObject({ level: 1, reasons: ['108'] });
    const ratingId = window01.stored[1]!.id;
    const order = await waitFor(() => hall.hub!.web.workOrders.byRating(ratingId), 'a work order for the 差评');
    await expect.poll(() => page.locator('#k-open').textContent(), { timeout: 10_000 }).toBe('1');

    await page.goto(`${hall.hubUrl}/workorders`);
    const row = page.locator(`tr[data-order="${order.id}"]`);
    await expect.poll(() => row.textContent()).toContain('待核实');
    await shoot(page, '05-workorders-new');
    await row.locator('a').click();
    await page.waitForURL(new RegExp(`/workorders/${order.id}$`));
    expect(await page.locator('dl.facts').textContent()).toContain('108 办事指南与实际不符');
    await shoot(page, '06-workorder-new');

    const act = async (type: string, fill: (f: ReturnType<typeof page.locator>) => Promise<void> = async () => {}) => {
      const f = page.locator(`form[data-action="${type}"]`);
      await fill(f);
      await f.locator('button[type=submit]').click();
      await page.waitForLoadState('load');
      await expect.poll(() => page.locator('.flash').first().textContent()).toMatch(/已办理|不能|须/);
      expect(await page.locator('.flash.error').count(), (await page.locator('.flash').first().textContent()) ?? '').toBe(0);
    };
    await act('start-verify');
    await expect.poll(() => page.locator('h1 .state').textContent()).toBe('核实中');
    await act('confirm', (f) =>
      f
        .locator('select[name=class]')
        .selectOption('simple')
        .then(() => f.locator('textarea').fill('经核实，窗口人员未一次性告知材料。')),
    );
    await expect.poll(() => page.locator('h1 .state').textContent()).toBe('整改中');
    await shoot(page, '07-workorder-rectifying');
    await act('rectify', (f) => f.locator('textarea').fill('已对窗口人员开展业务培训，并电话向评价人致歉、补充告知材料清单。'));
    await expect.poll(() => page.locator('h1 .state').textContent()).toBe('待回访');
    await act('revisit', (f) =>
      f
        .locator('select[name=satisfied]')
        .selectOption('yes')
        .then(() => f.locator('textarea').fill('电话回访，评价人表示满意。')),
    );
    await expect.poll(() => page.locator('h1 .state').textContent()).toBe('已办结');
    await shoot(page, '08-workorder-closed');
    const trail = await page.locator('table.trail tbody tr').allTextContents();
    expect(trail.map((t) => t.replace(/\s+/g, ''))).toEqual([
      expect.stringContaining('系统自动生成工单'),
      expect.stringContaining('zhang开始核实'),
      expect.stringContaining('zhang确认差评，开始整改'),
      expect.stringContaining('zhang提交整改情况'),
      expect.stringContaining('zhang回访评价人'),
    ]);
    expect(await page.locator('form.action').count()).toBe(0); // nothing left to do
  }, 90_000);

  it('marks an overdue order so it stands out', async () => {
    const page = browser.page;
    // A 差评 received twelve days ago and never touched: past every limit of the profile.
    const web = hall.hub!.web;
    const old = Date.now() - 12 * 86_400_000;
    hall.hub!.db.transaction(() => {
      web.facts.add({
        id: '0190a000-0000-7000-8000-000000000001',
        at: old,
        window: '02',
        staffId: null,
        itemCode: 'X1',
        itemName: '社保卡补办',
        channel: 'device',
        level: 2,
        device: 'ev-002',
        receivedAt: old,
        reasons: [],
        cases: ['BJ-2026-0001'],
      });
      web.workOrders.createFor({
        id: '0190a000-0000-7000-8000-000000000001',
        at: old,
        window: '02',
        staffId: null,
        itemCode: 'X1',
        itemName: '社保卡补办',
        channel: 'device',
        level: 2,
        device: 'ev-002',
        receivedAt: old,
        reasons: [],
        cases: ['BJ-2026-0001'],
      });
    })();
    await page.goto(`${hall.hubUrl}/workorders?state=open`);
    const row = page.locator('tr.overdue-row');
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain('已超期');
    await shoot(page, '09-workorders-overdue');
    const c = await dominantColour(row.locator('td').nth(1));
    expect(c.r > 240 && c.g < 240 && c.b < 240, `overdue row background ${JSON.stringify(c)}`).toBe(true); // pink, not white
  }, 60_000);

  it('drops a 差评 judged invalid on appeal out of the statistics, and shows it as invalid', async () => {
    const page = browser.page;
    badReview(window01, 3); // 不满意, reason 207
    await waitFor(() => window01.stored.length === 3, 'the second 差评 to be stored');
    const ratingId = window01.stored[2]!.id;
    const order = await waitFor(() => hall.hub!.web.workOrders.byRating(ratingId), 'its work order');

    await page.goto(`${hall.hubUrl}/stats?preset=today`);
    await page.waitForFunction("document.body.dataset.chart === 'ready'");
    expect(await page.locator('#k-total').textContent()).toBe('3');
    expect(await page.locator('#k-bad').textContent()).toBe('2');
    expect(await page.locator('#k-invalid').textContent()).toBe('0');
    await shoot(page, '10-stats-before-appeal');
    const chartPng = await page.locator('#trend-chart').screenshot();
    expect(inkShare(chartPng)).toBeGreaterThan(0.01); // the chart is drawn, not an empty canvas

    await page.goto(`${hall.hubUrl}/workorders/${order.id}`);
    const appeal = page.locator('form[data-action="appeal"]');
    await appeal.locator('textarea').fill('监控录像显示评价人未办理业务，系误按。');
    await appeal.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('h1 .state').textContent()).toBe('申诉复核中');
    expect(await page.locator('form[data-action="judge"]').count()).toBe(0); // a supervisor does not judge
    await shoot(page, '11-workorder-appealed');

    await page.locator('header .who button').click();
    await page.waitForURL(/\/login/);
    await login('li', 'admin-pass-1234');
    await page.goto(`${hall.hubUrl}/workorders/${order.id}`);
    const judge = page.locator('form[data-action="judge"]');
    await judge.locator('select[name=outcome]').selectOption('invalid');
    await judge.locator('textarea').fill('经调取录像复核，属误评，不予采纳。');
    await judge.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('h1 .state').textContent()).toBe('无效差评');
    await shoot(page, '12-workorder-invalid');

    await page.goto(`${hall.hubUrl}/stats?preset=today`);
    expect(await page.locator('#k-total').textContent()).toBe('2');
    expect(await page.locator('#k-bad').textContent()).toBe('1');
    expect(await page.locator('#k-invalid').textContent()).toBe('1');
    const invalidRows = page.locator('#invalidated tr.invalid-row');
    expect(await invalidRows.count()).toBe(1);
    expect(await invalidRows.textContent()).toContain('不满意');
    await shoot(page, '13-stats-after-appeal');

    // The stored record itself is untouched: still there, still level 2.
    const row = hall.hub!.db.prepare<[string], { level: number }>('SELECT level FROM ratings WHERE id = ?').get(ratingId);
    expect(row?.level).toBe(2);
  }, 90_000);

  it('raises the alarm on the wall when 差评 cluster at a window', async () => {
    const page = browser.page;
    await page.goto(`${hall.hubUrl}/wall`);
    const bar = page.locator('#alert-bar');
    expect(await bar.isHidden()).toBe(true);
    // Window 01 has one valid 差评 this hour (the other was judged invalid); two more make three.
    window01.rate(4); // reasons skipped
    await waitFor(() => window01.stored.length === 4, 'a third 差评');
    await new Promise((r) => setTimeout(r, 300));
    window01.rate(4);
    await waitFor(() => window01.stored.length === 5, 'a fourth 差评');
    await expect.poll(() => bar.isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await bar.textContent()).toContain('01 号窗口 60 分钟内差评 3 条');
    expect(isRed(await dominantColour(bar))).toBe(true);
    await shoot(page, '14-wall-alert');
    await page.goto(`${hall.hubUrl}/alerts`);
    expect(await page.locator('tr.alert-row').count()).toBe(1);
    await shoot(page, '15-alerts');
  }, 60_000);

  it('is readable on a phone', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${hall.hubUrl}/wall`);
    await expect.poll(() => phone.locator('.tile').count()).toBe(2);
    const width = (await phone.evaluate('document.documentElement.scrollWidth')) as number;
    expect(width).toBeLessThanOrEqual(390); // nothing wider than the screen
    await shoot(phone, '16-wall-phone');
    await phone.goto(`${hall.hubUrl}/workorders?state=all`);
    await shoot(phone, '17-workorders-phone');
    await phone.close();
  }, 60_000);
});
