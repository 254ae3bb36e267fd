/**
 * No I/O in the hall page's constructor: the policy file named in its configuration is read by
 * the hub's preflight (or HallWeb.open), and event subscriptions wait for start().
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/config-error.js';
import { WorkingDayCalendar } from '../../hub/calendar/working-days.js';
import type { HubEvents } from '../../hub/events.js';
import { HallRecords } from '../../hub/facts/hall-records.js';
import { createMetrics } from '../../hub/metrics.js';
import { Registry } from '../../hub/registry/registry.js';
import { DeviceStatusStore } from '../../hub/status/device-status.js';
import { openHubDb, type Db } from '../../hub/store/db.js';
import { WebConfigSchema } from '../../hub/web/config.js';
import { HallWeb } from '../../hub/web/hall-web.js';
import { PROFILES } from '../../hub/workorders/policy.js';
import { silentLog } from '../helpers/log.js';

let dir = '';
let db: Db | null = null;
afterEach(() => {
  db?.close();
  db = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function deps() {
  dir = mkdtempSync(join(tmpdir(), 'hcp-web-open-'));
  db = openHubDb(join(dir, 'hub.db'));
  const log = silentLog();
  const registry = new Registry(db, 'open-hall');
  const events = new EventEmitter<HubEvents>();
  return { db, registry, events, log, metrics: createMetrics(), status: new DeviceStatusStore(db, log, () => {}), dataDir: dir };
}

describe('the hall page reads no file when it is built', () => {
  it('new HallWeb does not read the policy file its configuration names (the preflight did), nor listen before start()', () => {
    const d = deps();
    const config = { policy: join(dir, 'no-such-policy.json') };
    const records = new HallRecords({
      db: d.db,
      registry: d.registry,
      rules: WebConfigSchema.parse(config),
      profile: PROFILES.ankang,
      calendar: new WorkingDayCalendar(),
      now: Date.now,
    });
    const web = new HallWeb({ ...d, config, records });
    expect(web.profile.id).toBe('ankang');
    expect(d.events.listenerCount('config')).toBe(0);
    web.start();
    expect(d.events.listenerCount('config')).toBe(1);
    web.stop();
    expect(d.events.listenerCount('config')).toBe(0);
  });

  it('HallWeb.open reads it, and says in one line when it is missing', () => {
    const d = deps();
    let thrown: unknown = null;
    try {
      HallWeb.open({ ...d, config: { policy: join(dir, 'no-such-policy.json') } });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(/no-such-policy\.json/);
    expect((thrown as Error).message).not.toContain('\n');
  });
});
