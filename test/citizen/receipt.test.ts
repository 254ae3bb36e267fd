/**
 * The receipt QR of a 差评, end to end over HTTP: the device's link opens the hub's page, the
 * citizen's reasons and text reach the stand-in province once as the follow-up evaluation.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';
import { badRatingReceipt, citizenDevice, citizenHall, postForm, provinceItems } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

describe('the receipt QR of a 差评', () => {
  it('opens a form with the level’s reasons; reasons and text reach the province once as the follow-up (assessNumber 2, pf 3)', async () => {
    hall = await citizenHall();
    const d = await citizenDevice(hall, '12');
    const { url, recordId } = await badRatingReceipt(hall, d);
    expect(url).toMatch(new RegExp(`^${hall.hubUrl}/citizen/r/${recordId}/[\\w-]{22}$`));
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('set-cookie')).toBeNull();
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const text = await page.text();
    expect(text).toContain('补充差评意见');
    expect(text).toContain('value="115"');
    const r = await postForm(url, 'reason=115&reason=113&text=' + encodeURIComponent('窗口人员 态度\u0007差\u202e'));
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('提交成功');
    await waitFor(async () => (await provinceItems(hall!)).length === 2, 'the rating and its follow-up at the province');
    const items = await provinceItems(hall);
    expect(items[0]!.body).toMatchObject({ evaluationId: recordId, assessNumber: '1', satisfaction: '1' });
    expect(items[1]!.body).toMatchObject({
      assessNumber: '2',
      pf: '3',
      satisfaction: '1',
      evalDetail: '115,113',
      writingEvaluation: '窗口人员 态度差',
    });
    // Used: the second submit is refused and nothing more is queued.
    const again = await postForm(url, 'reason=114');
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('已提交过');
    expect(hall.hub!.db.prepare("SELECT count(*) AS n FROM forward_queue WHERE kind = 'follow-up'").get()).toEqual({ n: 1 });
  });
});
