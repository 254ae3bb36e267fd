import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../device/util/systemd.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'hcp-sd-'));
afterEach(() => rmSync(join(dir, 'calls'), { force: true }));

/** A stand-in for systemd-notify that writes down how it was called. */
function fakeNotify(): string {
  const tool = join(dir, 'systemd-notify');
  writeFileSync(tool, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${join(dir, 'calls')}\n`);
  chmodSync(tool, 0o755);
  return tool;
}
const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []);

describe('systemd readiness and watchdog', () => {
  it('says ready, then pings the watchdog at half its interval while the agent is healthy', async () => {
    const n = new SystemdNotifier({ ...process.env, NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' }, fakeNotify());
    let healthy = true;
    await n.ready(() => healthy);
    await waitFor(() => calls().filter((c) => c.endsWith('WATCHDOG=1')).length >= 2, 'two watchdog pings', 5000);
    expect(calls()[0]).toBe('/run/x --ready --status=rating');
    healthy = false;
    const before = calls().length;
    await sleep(2200);
    expect(calls().length).toBe(before); // no pings: systemd will restart the agent
    await n.stopping();
    expect(calls().at(-1)).toBe('/run/x --stopping');
  });

  it('outside systemd it does nothing', async () => {
    const n = new SystemdNotifier({ PATH: process.env.PATH }, fakeNotify());
    await n.ready(() => true);
    await n.stopping();
    expect(calls()).toEqual([]);
  });
});
