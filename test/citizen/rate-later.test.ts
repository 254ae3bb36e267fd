/**
 * The rate-later QR of a session the citizen walked away from: rated on the phone before its
 * deadline it counts like a late device rating (superseding a default already sent); after the
 * deadline the page says so and nothing is stored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { citizenDevice, citizenHall, postForm, provinceItems, sessionWithQr } from './helpers.js';

const DAY = 86_400_000;
let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

/** A hall whose defaults come after 1 calendar day while the QR stays usable 7 (Ankang art. 11's supplementary period). */
async function hallWithClock() {
  const clock = { t: Date.now() };
  hall = await citizenHall({
    now: () => clock.t,
    hubConfig: { defaults: { unit: 'calendar-days', count: 1 }, citizen: { period: { unit: 'calendar-days', count: 7 } } },
  });
  return { hall, clock };
}

describe('the rate-later QR', () => {
  it('an open session rated on the phone counts as its first evaluation, from the QR channel (pf 3), and the device can no longer add one', async () => {
    const { hall } = await hallWithClock();
    const d = await citizenDevice(hall, '12', 'session');
    const { url, sessionId } = await sessionWithQr(hall, d, '12');
    expect(url).not.toContain(sessionId);
    const form = await (await fetch(url)).text();
    expect(form).toContain('服务评价');
    const r = await postForm(url, 'level=4');
    expect(r.status).toBe(200);
    await waitFor(async () => (await provinceItems(hall)).length === 1, 'the QR rating at the province');
    expect((await provinceItems(hall))[0]!.body).toMatchObject({
      assessNumber: '1',
      pf: '3',
      satisfaction: '4',
      projectNo: 'BJ2026120100001',
    });
    expect(hall.hub!.sessions.get(sessionId)).toMatchObject({ state: 'rated', counted: { kind: 'rating', level: 4 } });
    // The citizen (or someone else) now presses at the window too: kept, not forwarded (一次一评).
    d.buttons.press(0);
    await waitFor(() => hall.hub!.db.prepare("SELECT 1 FROM ratings WHERE kind = 'rating'").get(), 'the device rating stored');
    hall.hub!.forwarder!.kick();
    await sleep(300);
    expect(await provinceItems(hall)).toHaveLength(1);
    expect(hall.hub!.sessions.get(sessionId)).toMatchObject({ state: 'rated', counted: { kind: 'rating', level: 4 } });
  });

  it('a walked-away session rated by QR after its default was sent but before the QR deadline supersedes the default: the province gets the correction', async () => {
    const { hall, clock } = await hallWithClock();
    const d = await citizenDevice(hall, '12', 'session');
    const { url, sessionId } = await sessionWithQr(hall, d, '12');
    clock.t += 2 * DAY; // past the 1-day default, within the 7-day QR period
    expect(hall.hub!.sessions.createDueDefaults()).toBe(1);
    hall.hub!.forwarder!.kick();
    await waitFor(async () => (await provinceItems(hall)).length === 1, 'the default at the province');
    const [def] = await provinceItems(hall);
    expect(def!.body).toMatchObject({ satisfaction: '3', assessNumber: '1' });

    const r = await postForm(url, 'level=2&reason=213&text=' + encodeURIComponent('材料要求前后不一致'));
    expect(r.status).toBe(200);
    await waitFor(async () => (await provinceItems(hall)).length === 2, 'the correction at the province');
    const correction = (await provinceItems(hall))[1]!.body;
    expect(correction).toMatchObject({
      assessNumber: '2',
      pf: '3',
      satisfaction: '2',
      evalDetail: '213',
      writingEvaluation: '材料要求前后不一致',
      projectNo: 'BJ2026120100001',
    });
    const s = hall.hub!.sessions.get(sessionId)!;
    expect(s).toMatchObject({ state: 'corrected', counted: { kind: 'correction', level: 2 } });
    expect(s.evaluations.find((e) => e.kind === 'correction')?.supersedes).toBe(s.defaultId);
    // Statistics: the default no longer counts, the QR rating does (channel qr), and the 差评 has its work order.
    await waitFor(() => hall.hub!.factSync.syncNow() >= 0 && hall.hub!.web.workOrders.list({}).length === 1, 'the work order');
    const facts = hall.hub!.db.prepare('SELECT channel, level, excluded FROM rating_facts ORDER BY at').all();
    expect(facts).toEqual([
      { channel: 'default', level: 3, excluded: 'superseded' },
      { channel: 'qr', level: 2, excluded: null },
    ]);
  });

  it('after the deadline the page says so and nothing is stored', async () => {
    const { hall, clock } = await hallWithClock();
    const d = await citizenDevice(hall, '12', 'session');
    const { url } = await sessionWithQr(hall, d, '12');
    clock.t += 9 * DAY;
    const page = await fetch(url);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('已超过评价期限');
    const r = await postForm(url, 'level=5');
    expect(r.status).toBe(410);
    expect(hall.hub!.db.prepare('SELECT count(*) AS n FROM citizen_submissions').get()).toEqual({ n: 0 });
    expect(hall.hub!.db.prepare("SELECT count(*) AS n FROM forward_queue WHERE kind IN ('rating', 'correction')").get()).toEqual({ n: 0 });
  });
});
