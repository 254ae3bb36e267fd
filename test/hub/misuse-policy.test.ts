/**
 * The flag policy end to end, with real parts: a device agent presses, the hub (aedes, SQLite)
 * stores and decides, the stand-in province receives over HTTP. A sessionless press in session
 * mode is kept and flagged but neither counted nor forwarded; in walk-up mode it counts.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';
import { dayNumber } from '../../hub/calendar/working-days.js';
import type { DeviceSettings } from '../../hub/registry/registry.js';
import { TestHall } from '../helpers/hall.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

const SESSION_MODE: DeviceSettings = { mode: 'session', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } };
const WALK_UP: DeviceSettings = { mode: 'walk-up', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } };

async function put(h: TestHall, path: string, body: unknown): Promise<number> {
  const r = await fetch(`${h.hubUrl}${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await r.text();
  return r.status;
}

describe('misuse is kept, shown, and not counted', () => {
  it('a sessionless press in session mode is stored and flagged, but not in the 满意率 and never forwarded; the same press in walk-up mode counts', async () => {
    hall = await TestHall.start();
    const hub = hall.hub!;
    const dev = await hall.addDevice('12', SESSION_MODE);
    await waitFor(() => dev.agent.link.connected, 'device connected');

    // 非常满意 pressed three times with no session open, seconds apart (the reproduction), then one real service.
    for (let i = 0; i < 3; i++) {
      await waitFor(() => dev.display.current?.screen === 'idle', 'the staff card');
      dev.buttons.press(0);
      await waitFor(
        () => (hub.db.prepare('SELECT count(*) AS n FROM ratings').get() as { n: number }).n === i + 1,
        `press ${i + 1} stored`,
      );
    }
    // A burst of top ratings seconds apart is a misuse alert (and the wall hears of it).
    await waitFor(() => hub.web.alerts.open().find((a) => a.kind === 'burst' && a.window === '12'), 'a burst alert');
    const { session } = await hall.api<{ session: { id: string } }>('/api/sessions', { window: '12', cases: ['BJ2026120100001'] });
    await waitFor(() => dev.display.current?.screen === 'prompt', 'the device prompts');
    dev.buttons.press(3); // 不满意, then skip the reasons
    await waitFor(() => dev.display.current?.screen === 'reasons', 'reasons');
    dev.buttons.press(4);

    // Only the session's rating reaches the province; the sessionless presses never do.
    await waitFor(async () => (await hall!.provinceRecords()).length === 1, 'the session rating at the province');
    await waitFor(
      () => (hub.db.prepare("SELECT count(*) AS n FROM forward_queue WHERE state = 'pending'").get() as { n: number }).n === 0,
      'forward queue drained',
    );
    const sent = await hall.provinceRecords();
    expect(sent.map((s) => [s.evaluation.level, s.evaluation.session?.id])).toEqual([[2, session.id]]);

    // Kept, never deleted: both presses are stored with the hub's decision beside them.
    const decisions = hub.db
      .prepare(
        'SELECT r.level, d.action, d.flags FROM ratings r JOIN rating_decisions d ON d.rating_id = r.id WHERE r.session_id IS NULL ORDER BY r.seq',
      )
      .all();
    expect(decisions).toEqual(Array(3).fill({ level: 5, action: 'exclude', flags: '["no-session"]' }));

    // Statistics: one valid rating (the 差评), 满意率 0; the three presses shown as misuse.
    hub.factSync.syncNow();
    const today = dayNumber(Date.now());
    const s = hub.web.stats.summary(today, today);
    expect(s).toMatchObject({ total: 1, n5: 0, n2: 1, misuse: 3, satisfaction: 0 });
    expect(hub.web.stats.flagged(0, Date.now() + 1000).map((r) => [r.level, r.excluded, r.flags])).toEqual(
      Array(3).fill([5, 'misuse', 'no-session']),
    );
    // No 差评 work order is opened for an excluded press; the session's 差评 has one.
    expect((hub.db.prepare('SELECT count(*) AS n FROM work_orders').get() as { n: number }).n).toBe(1);
    expect(hub.web.facts.checkRollups()).toEqual([]);

    // The same press on a device the hall runs walk-up: counted and forwarded.
    const walk = await hall.addDevice('13', WALK_UP);
    await waitFor(() => walk.agent.link.connected, 'walk-up device connected');
    walk.buttons.press(0);
    await waitFor(async () => (await hall!.provinceRecords()).length === 2, 'the walk-up rating at the province');
    const last = (await hall.provinceRecords())[1]!.evaluation;
    expect(last).toMatchObject({ level: 5, window: '13', flags: ['walk-up'] });
    await waitFor(() => (hub.factSync.syncNow(), hub.web.stats.summary(today, today).total === 2), 'walk-up press counted');
    expect(hub.web.stats.summary(today, today)).toMatchObject({ n5: 1, misuse: 3 });
  });

  it('the hall can choose to count sessionless presses (flagged): set with the CLI through the hall settings API, forwarded with their flag', async () => {
    hall = await TestHall.start();
    const hub = hall.hub!;
    expect(await put(hall, '/api/hall/settings', { flagPolicy: { 'no-session': 'bogus' } })).toBe(400);
    const cli = (...args: string[]) =>
      exec(process.execPath, [CLI_PATH, 'hub', 'hall', ...args, '--hub', hall!.hubUrl, '--data', join(hall!.dir, 'hub')]);
    await expect(cli('set', '--flag', 'no-session=ignore')).rejects.toThrow(/NAME=ACTION/);
    await cli('set', '--flag', 'no-session=flag', '--reason-required', 'yes');
    const shown = JSON.parse((await cli('show', '--json')).stdout) as { settings: Record<string, unknown> };
    expect(shown.settings).toEqual({ flagPolicy: { 'no-session': 'flag' }, reasonRequired: true });
    expect((await cli('show')).stdout).toMatch(/no-session\s+flag\s+计入并标记/);
    const dev = await hall.addDevice('12', SESSION_MODE);
    await waitFor(() => dev.agent.link.connected, 'device connected');
    // The hub-only policy does not reach the device's config; the reason policy does.
    expect(dev.agent.currentConfig).not.toHaveProperty('flagPolicy');
    expect(dev.agent.currentConfig.reasonRequired).toBe(true);
    dev.buttons.press(0);
    await waitFor(async () => (await hall!.provinceRecords()).length === 1, 'forwarded');
    expect((await hall.provinceRecords())[0]!.evaluation).toMatchObject({ level: 5, flags: ['no-session'] });
    await waitFor(
      () => (hub.factSync.syncNow(), hub.web.stats.summary(dayNumber(Date.now()), dayNumber(Date.now())).total === 1),
      'counted',
    );
    expect(hub.web.stats.summary(dayNumber(Date.now()), dayNumber(Date.now()))).toMatchObject({ n5: 1, flagged: 1, misuse: 0 });
  }, 120_000); // each CLI run is a fresh Node process
});
