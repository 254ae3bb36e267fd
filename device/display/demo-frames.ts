import { defaultDeviceConfig } from '../../protocol/index.js';
import { RatingFlow } from '../flow/rating-flow.js';
import type { Frame, Screen } from './types.js';

/**
 * One frame of every screen, made by the real flow with the built-in reasons: what the wiring
 * check cycles through and what the display contract suite shows every driver.
 */
export function demoFrames(): Record<Screen, Frame> {
  const c = {
    ...defaultDeviceConfig('hall', 'device', '12'),
    staff: { id: 'S042', name: '张三', number: '0042', photo: 'p/S042.jpg' },
    feedbackUrl: 'https://hall.example/f',
    // A fixed receipt key: the same QR links every time.
    receiptKey: 'k'.repeat(43),
  };
  // A fixed record id: the same frames every time, so a panel's picture can be compared with them.
  const f = new RatingFlow(c, { newId: () => '019a0000-0000-7000-8000-00000000d3e0' });
  const idle = f.frame();
  f.openSession({ id: 's', cases: ['BJ001', 'BJ002'], itemCode: null, itemName: null }, 'S042', 0);
  const prompt = f.frame();
  f.press(3, 2000);
  f.press(0, 3000);
  const reasons = f.frame();
  const done = f.press(4, 4000).find((e) => e.type === 'record') as { thanks: Frame };
  return {
    idle,
    prompt,
    reasons,
    thanks: done.thanks,
    paused: { screen: 'paused', text: c.prompts.paused },
    'out-of-service': { screen: 'out-of-service', text: '设备暂停使用，请联系工作人员', fault: 'outbox-full' },
  };
}
