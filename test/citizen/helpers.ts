/** A hall with the citizen page switched on: the common province format, a device whose QR links lead to the hub. */
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';
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

// CommonJS: Node's default export is module.exports (the function); the types describe an ES module's default.
const jsQR = ((jsqrModule as { default?: unknown }).default ?? jsqrModule) as typeof jsqrModule.default;

/** Reads the QR in greyscale pixels (halved first: the board is 300 dpi, the QR's modules are large). */
export function decodeGrey(grey: Uint8Array, width: number, height: number): string | null {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = grey[y * 2 * width + x * 2]!;
      const i = (y * w + x) * 4;
      rgba[i] = rgba[i + 1] = rgba[i + 2] = v;
      rgba[i + 3] = 255;
    }
  return jsQR(rgba, w, h)?.data ?? null;
}

export function decodePng(buf: Buffer): { url: string | null; width: number; height: number } {
  const png = PNG.sync.read(buf);
  const grey = new Uint8Array(png.width * png.height);
  for (let i = 0; i < grey.length; i++) grey[i] = png.data[i * 4]!;
  return { url: decodeGrey(grey, png.width, png.height), width: png.width, height: png.height };
}
