/**
 * Hub backup and restore with a real hub process, real device agents and the stand-in province:
 * a backup taken while ratings flow, more ratings after it, the hub stopped and restored from the
 * backup, and the devices bringing the hub back to what they had — the province counting every
 * rating once.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 60_000 });
}

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

const hubRatings = (h: TestHall) => h.api<{ devices: { id: string; lastSeq: number }[] }>('/api/devices');

describe('hub backup and restore', () => {
  it('a backup taken during ingest, more ratings, a restore: devices resend, the province has every rating exactly once', async () => {
    hall = await TestHall.start({ hubAs: 'process' });
    const devs = [await hall.addDevice('1'), await hall.addDevice('2')];
    const data = join(hall.dir, 'hub');
    const backup = join(hall.dir, 'hub-backup.db');
    // Ratings flow while the backup is taken.
    let pressing = true;
    const presser = (async () => {
      for (let i = 0; pressing; i++) {
        devs[i % 2]!.rate(i % 3); // 非常满意, 满意, 基本满意
        await sleep(15);
      }
    })();
    await sleep(300);
    const b = cli(['hub', 'backup', '--data', data, '--to', backup]);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/backup written: .*ratings/);
    await sleep(300);
    pressing = false;
    await presser;
    const total = devs.reduce((n, d) => n + d.stored.length, 0);
    await waitFor(async () => (await hall!.provinceRecords()).length === total, 'everything at the province', 30_000);
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    const inBackup = (new Database(backup, { readonly: true }).prepare('SELECT count(*) AS n FROM ratings').get() as { n: number }).n;
    expect(inBackup).toBeGreaterThan(0);
    expect(inBackup).toBeLessThan(total);

    // Restoring under a running hub is refused in one line; nothing is touched.
    const busy = cli(['hub', 'restore', backup, '--data', data]);
    expect(busy.status).toBe(2);
    expect(busy.stderr.trim()).toMatch(/^the hub is running \(pid \d+/);

    await hall.stopHubProcess();
    const r = cli(['hub', 'restore', backup, '--data', data]);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(data).some((n) => n.startsWith('before-restore-'))).toBe(true);
    await hall.startHubProcess();

    // The devices resend what the restored hub lacks; the province deduplicates.
    await waitFor(
      async () => {
        const list = await hubRatings(hall!);
        return list.devices.every((d) => d.lastSeq === devs.find((x) => x.id === d.id)!.stored.length);
      },
      "the hub back to every device's last sequence",
      60_000,
    );
    const db = new Database(join(data, 'hub.db'), { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM ratings').get() as { n: number }).n).toBe(total);
    expect((db.prepare('SELECT count(*) AS n FROM gaps').get() as { n: number }).n).toBe(0);
    db.close();
    devs[0]!.rate(0);
    await waitFor(async () => (await hall!.provinceRecords()).length === total + 1, 'the next rating at the province', 30_000);
    const ids = (await hall.provinceRecords()).map((x) => x.record.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(existsSync(backup)).toBe(true);
  }, 180_000);

  it('restore refuses a file that is not a hub backup, in one line, and changes nothing', async () => {
    hall = await TestHall.start({ hubAs: 'process' });
    await hall.stopHubProcess();
    const data = join(hall.dir, 'hub');
    const before = readdirSync(data).sort();
    const r = cli(['hub', 'restore', join(hall.dir, 'province.db'), '--data', data]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/is not a hub backup/);
    expect(readdirSync(data).sort()).toEqual(before);
  }, 60_000);
});
