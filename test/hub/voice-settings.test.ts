/** A window's voice settings (volume, quiet, spoken options) are hub settings that reach the device in its config. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Registry } from '../../hub/registry/registry.js';
import { openHubDb } from '../../hub/store/db.js';
import { DeviceConfigSchema } from '../../protocol/index.js';

it('voice settings per window: changing them bumps the config version and the device config carries them; bad values are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-voice-hub-'));
  const db = openHubDb(join(dir, 'hub.db'));
  try {
    const r = new Registry(db, 'h1');
    const { device } = r.add({ window: '07', id: 'ev-07' });
    expect(r.config(device).voice).toBeUndefined(); // the device's defaults
    const res = r.updateSettings('ev-07', { voice: { volume: 40, quiet: false, speakOptions: true } });
    expect(res.changed).toBe(true);
    const c = r.config(res.device);
    expect(c.version).toBe(device.config_version + 1);
    expect(DeviceConfigSchema.parse(c).voice).toEqual({ volume: 40, quiet: false, speakOptions: true });
    expect(() => r.updateSettings('ev-07', { voice: { volume: 140, quiet: false, speakOptions: false } })).toThrow();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
