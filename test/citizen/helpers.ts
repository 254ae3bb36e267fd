/** A hall with the citizen page switched on: the common province format, a device whose QR links lead to the hub. */
import type { Frame } from '../../device/display/types.js';
import type { HubConfigInput } from '../../hub/config.js';
import { FAST_WALK_UP, TestHall, type TestDevice } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

export async function citizenHall(opts: { hubConfig?: Partial<HubConfigInput>; now?: () => number } = {}): Promise<TestHall> {
  return TestHall.start({
    province: { profile: 'common' },
    forward: { profile: 'common', areaCode: '420100', deptCode: 'D1' },
    hubConfig: opts.hubConfig,
    now: opts.now,
  });
}

/** A device at `window` whose QR links point at the hub's citizen page; resolves once it holds its receipt key. */
export async function citizenDevice(hall: TestHall, window: string, mode: 'walk-up' | 'session' = 'walk-up'): Promise<TestDevice> {
  const d = await hall.addDevice(window, {
    ...FAST_WALK_UP,
    mode,
    windowName: '不动产登记',
    feedbackUrl: `${hall.hubUrl}/citizen/`,
    timeouts: { ...FAST_WALK_UP.timeouts, thanksS: 5, promptS: 600 },
  });
  await waitFor(() => d.agent.currentConfig.receiptKey, 'the receipt key in the device config');
  return d;
}

/** Presses a 差评 (button 4 = 非常不满意), skips its reasons, and returns the receipt QR of the thank-you screen. */
export async function badRatingReceipt(hall: TestHall, d: TestDevice): Promise<{ url: string; recordId: string }> {
  d.display.frames.length = 0;
  d.rate(4);
  const thanks = await waitFor(
    () => [...d.display.frames].reverse().find((f): f is Extract<Frame, { screen: 'thanks' }> => f.screen === 'thanks' && !!f.qr),
    'the thank-you screen with its QR',
  );
  await waitFor(() => hall.hub!.db.prepare('SELECT 1 FROM forward_queue WHERE id = ?').get(thanks.ref), 'the rating stored at the hub');
  return { url: thanks.qr!, recordId: thanks.ref! };
}

/** Evaluations the stand-in province accepted (common format bodies), in order. */
export async function provinceItems(hall: TestHall): Promise<{ received: number; body: Record<string, unknown> }[]> {
  const page = (await (await fetch(`${hall.province.url}/api/evaluations?after=0&limit=5000`)).json()) as {
    records: { received: number; record: Record<string, unknown> }[];
  };
  return page.records.map((r) => ({ received: r.received, body: r.record }));
}

export async function postForm(url: string, form: string | URLSearchParams, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: String(form),
  });
}

/** Opens a session at `window` (as the queue system would) and returns the device's rate-later QR from its prompt. */
export async function sessionWithQr(
  hall: TestHall,
  d: TestDevice,
  window: string,
  cases = ['BJ2026120100001'],
): Promise<{ url: string; sessionId: string }> {
  d.display.frames.length = 0;
  const { session } = await hall.api<{ session: { id: string } }>('/api/sessions', {
    window,
    cases,
    itemCode: 'X1',
    itemName: '不动产登记',
  });
  const prompt = await waitFor(
    () => d.display.frames.find((f): f is Extract<Frame, { screen: 'prompt' }> => f.screen === 'prompt' && !!f.qr),
    'the prompt with its rate-later QR',
  );
  return { url: prompt.qr!, sessionId: session.id };
}
