/** A device data directory for agent tests that need no hub. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_CACHE_FILE, ENROLMENT_FILE } from '../../device/enrolment/enrolment.js';
import { defaultDeviceConfig, type DeviceConfig } from '../../protocol/index.js';
import { freePort } from '../../simulator/processes.js';

/** A device enrolled with a hub that is not there (nothing listens on its port). */
export async function offlineDevice(
  dir: string,
  config: Partial<Omit<DeviceConfig, 'timeouts'>> & { timeouts?: Partial<DeviceConfig['timeouts']> } = {},
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, ENROLMENT_FILE),
    JSON.stringify({
      hall: 'h1',
      device: 'ev-1',
      window: '12',
      hubUrl: 'http://127.0.0.1:1',
      mqttUrl: `mqtt://127.0.0.1:${port}`,
      username: 'ev-1',
      password: 'x',
      ca: null,
      enrolledAt: 0,
    }),
  );
  const base = defaultDeviceConfig('h1', 'ev-1', '12');
  const timeouts = { ...base.timeouts, repeatIntervalS: 0, tooSoonS: 0, thanksS: 0.1, ...config.timeouts };
  const c = { ...base, mode: 'walk-up' as const, ...config, timeouts };
  writeFileSync(join(dir, CONFIG_CACHE_FILE), JSON.stringify(c));
  return dir;
}
