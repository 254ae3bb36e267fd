import { BUILTIN_CATALOGUE } from './reasons.js';
import { PROTOCOL_VERSION, type DeviceConfig } from './schemas.js';

/**
 * The configuration a device runs with before the hub has sent one, and the hub's starting
 * point for a new device. Timeouts follow the products in use: a 60 s prompt, a 5 s repeat filter.
 */
export function defaultDeviceConfig(hall: string, device: string, window: string): DeviceConfig {
  return {
    v: PROTOCOL_VERSION,
    version: 0,
    hall,
    device,
    window,
    windowName: null,
    staff: null,
    paused: false,
    mode: 'session',
    buttons: [5, 4, 3, 2, 1],
    catalogue: BUILTIN_CATALOGUE,
    timeouts: { promptS: 60, reasonS: 30, thanksS: 3, repeatIntervalS: 5, tooSoonS: 1 },
    prompts: { ask: '请您对本次服务做出评价', thanks: '感谢您的评价', reasons: '请选择不满意的原因', paused: '暂停服务' },
    feedbackUrl: null,
  };
}
