/**
 * The ledger end to end: a live hub with real device agents stores real ratings; its database
 * is copied with the sqlite3 command and edited there the way someone with a shell would.
 * `haochaping hub verify` (the real CLI) and the daily audit (its function, on a fake clock)
 * must each name the edited rows; a day exported after its checkpoint must fail
 * `haochaping verify-export` once it is edited.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alarms } from '../../hub/alarms/alarms.js';
import { dayFromNumber, dayNumber } from '../../hub/calendar/working-days.js';
import { EventEmitter } from 'node:events';
import { Ledger } from '../../hub/ledger/ledger.js';
import { HUB_KEY_FILE } from '../../hub/ledger/hub-key.js';
import { checkpointSignatureOk } from '../../hub/ledger/digest.js';
import { createMetrics } from '../../hub/metrics.js';
import { openHubDb } from '../../hub/store/db.js';
import { CLI_PATH } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';
import { run } from './helpers.js';

const DAY = 86_400_000;
const cli = (args: string[]) => run(process.execPath, [CLI_PATH, ...args], 30_000);
const sqlite = (db: string, sql: string) => run('sqlite3', [db, sql]);

let hall: TestHall;
/** The hub's clock: real time moved to noon (China time) of today, so the test never straddles midnight; tests move it on. */
let offset = 0;
let day = 0;
let ids: { id: string; device: string; seq: number; level: number }[] = [];
let n = 0;

/** A consistent copy of the live database (sqlite3's online backup) with the hub's key beside it. */
async function copyOfLive(): Promise<string> {
  const dir = join(hall.dir, `copy-${++n}`);
  mkdirSync(dir, { mode: 0o700 });
  const r = await sqlite(join(hall.dir, 'hub', 'hub.db'), `.backup '${join(dir, 'hub.db')}'`);
  expect(r.code, r.stderr).toBe(0);
  copyFileSync(join(hall.dir, 'hub', HUB_KEY_FILE), join(dir, HUB_KEY_FILE));
  return dir;
}

/** The daily audit, run by its function on a copy, on a fake clock: the alarms it raised there. */
async function auditCopy(dir: string) {
  const db = openHubDb(join(dir, 'hub.db'));
  const metrics = createMetrics();
  const alarms = new Alarms(db, silentLog(), metrics, new EventEmitter());
  const ledger = new Ledger({
    db,
    dbPath: join(dir, 'hub.db'),
    dataDir: dir,
    hall: 'test-hall',
    alarms,
    metrics,
    log: silentLog(),
    now: () => Date.now() + offset,
  });
  const report = await ledger.runDaily();
  const text = await metrics.registry.metrics();
  const raised = alarms.list();
  db.close();
  return { report: report!, alarms: raised, metrics: text };
}

beforeAll(async () => {
  const now = Date.now();
  offset = dayNumber(now) * DAY - 8 * 3_600_000 + 12 * 3_600_000 - now;
  day = dayNumber(now + offset);
  hall = await TestHall.start({ now: () => Date.now() + offset });
  const a = await hall.addDevice('01');
  const b = await hall.addDevice('02');
  // Each press waits for the one before to be stored on the device (the thank-you screen passes).
  for (const [d, buttons] of [
    [a, [0, 1, 2, 3, 4]],
    [b, [4, 0, 3]],
  ] as const) {
    for (const button of buttons) {
      const before = d.stored.length;
      await waitFor(() => d.display.current?.screen === 'prompt' || undefined, 'ready to rate');
      d.rate(button);
      await waitFor(() => d.stored.length > before || undefined, 'rating stored on the device');
    }
  }
  const db = hall.hub!.db;
  await waitFor(() => (db.prepare('SELECT count(*) AS n FROM ratings').get() as { n: number }).n === 8 || undefined, '8 ratings stored');
  hall.hub!.factSync.syncNow();
  ids = db.prepare('SELECT id, device, seq, level FROM ratings ORDER BY device, seq').all() as typeof ids;
  // The day ends: the hub signs it and audits (the daily run, triggered on the fake clock).
  offset += DAY;
  const report = await hall.hub!.ledger.runDaily();
  expect(report?.findings).toEqual([]);
}, 60_000);

afterAll(async () => {
  await hall?.close();
});

describe("the ledger: an edit behind the hub's back is found, by the CLI and by the daily audit", () => {
  it('an untouched copy of a live hub verifies clean and exits 0', async () => {
    const dir = await copyOfLive();
    const r = await cli(['hub', 'verify', '--data', dir]);
    expect(r.stdout).toMatch(
      /OK — checked 8 ratings, \d+ facts, \d+ rollup rows, \d+ audit entries, \d+ work orders \(\d+ events\), 1 checkpoints/,
    );
    expect(r.code).toBe(0);
  });

  it("a rating's level changed with sqlite3 is named by hub verify (exit 1) and alarmed by the daily audit", async () => {
    const bad = ids.find((r) => r.level <= 2)!;
    const dir = await copyOfLive();
    expect((await sqlite(join(dir, 'hub.db'), `UPDATE ratings SET level = 5 WHERE id = '${bad.id}'`)).code).toBe(0);

    const r = await cli(['hub', 'verify', '--data', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `MISMATCH ratings ${bad.id} (${bad.device}/1 seq ${bad.seq}) level: level differs from the signed record — stored 5, expected ${bad.level}`,
    );
    // The signed checkpoint of that day counted it at its real level.
    expect(r.stdout).toContain(`MISMATCH ledger_checkpoints day ${dayFromNumber(day)} levels.5:`);

    const audit = await auditCopy(dir);
    expect(audit.report.ok).toBe(false);
    const alarm = audit.alarms.find((a) => a.kind === 'integrity')!;
    expect(alarm.message).toContain(`ratings ${bad.id} (${bad.device}/1 seq ${bad.seq}) level`);
    expect(alarm.detail.findings).toContainEqual(
      expect.objectContaining({
        table: 'ratings',
        key: `${bad.id} (${bad.device}/1 seq ${bad.seq}) level`,
        stored: '5',
        expected: String(bad.level),
      }),
    );
    expect(audit.metrics).toMatch(/hcp_ledger_mismatches\{table="ratings"\} 1/);
    expect(audit.metrics).toMatch(/hcp_alarms_total\{kind="integrity"\} 1/);
  });

  it("a rating deleted with sqlite3 is named as a hole in its device's chain and a fact without its record", async () => {
    // The middle of a chain: its neighbours are still there.
    const gone = ids.find((r) => r.seq === 3)!;
    const dir = await copyOfLive();
    expect((await sqlite(join(dir, 'hub.db'), `DELETE FROM ratings WHERE id = '${gone.id}'`)).code).toBe(0);

    const r = await cli(['hub', 'verify', '--data', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `MISMATCH ratings ${gone.device}/1 seq 3: missing from the chain, and ingest never recorded them as a gap: deleted after they were stored`,
    );
    expect(r.stdout).toContain(`MISMATCH rating_facts ${gone.id}: counted rating has no stored record (the rating was deleted)`);
    expect(r.stdout).toContain(`MISMATCH ledger_checkpoints day ${dayFromNumber(day)} records:`);

    const audit = await auditCopy(dir);
    expect(audit.alarms.find((a) => a.kind === 'integrity')?.detail.findings).toContainEqual(
      expect.objectContaining({ table: 'ratings', key: `${gone.device}/1 seq 3` }),
    );
  });

  it('a daily rollup edited with sqlite3 is named with its dimension, day and the counts that differ', async () => {
    const dir = await copyOfLive();
    expect((await sqlite(join(dir, 'hub.db'), `UPDATE stat_daily SET n5 = n5 + 10 WHERE dim = 'hall'`)).code).toBe(0);
    const statDay = (await sqlite(join(dir, 'hub.db'), `SELECT day, n5 FROM stat_daily WHERE dim = 'hall'`)).stdout
      .trim()
      .split('|')
      .map(Number);

    const r = await cli(['hub', 'verify', '--data', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `MISMATCH stat_daily dim=hall day=${dayFromNumber(statDay[0]!)} key="": counts differ from a recount of rating_facts — stored n5=${statDay[1]}, expected n5=${statDay[1]! - 10}`,
    );
    // Nothing else was touched, so nothing else is named.
    expect(r.stdout.split('\n').filter((l) => l.startsWith('MISMATCH'))).toHaveLength(1);

    const audit = await auditCopy(dir);
    expect(audit.alarms.find((a) => a.kind === 'integrity')?.detail.findings).toEqual([
      expect.objectContaining({ table: 'stat_daily', key: `dim=hall day=${dayFromNumber(statDay[0]!)} key=""` }),
    ]);
  });

  it('a work order closed and an audit entry rewritten with their guard triggers dropped are named by hub verify', async () => {
    const dir = await copyOfLive();
    const order = (await sqlite(join(dir, 'hub.db'), 'SELECT id, rating_id FROM work_orders ORDER BY id LIMIT 1')).stdout.trim().split('|');
    expect(order[0], 'the 差评 opened a work order').toBeTruthy();
    const edit = await sqlite(
      join(dir, 'hub.db'),
      `DROP TRIGGER work_orders_audited; UPDATE work_orders SET state = 'closed' WHERE id = ${order[0]};
       DROP TRIGGER audit_log_append_only_u; UPDATE audit_log SET actor = 'someone-else' WHERE n = 1;`,
    );
    expect(edit.code, edit.stderr).toBe(0);
    const r = await cli(['hub', 'verify', '--data', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `MISMATCH work_orders ${order[0]} (rating ${order[1]}) state: state is not the state its trail ends in — stored closed, expected new`,
    );
    expect(r.stdout).toContain('MISMATCH audit_log n=1: content does not match its hash (edited)');
  });

  it("the running hub's own daily audit raises an integrity alarm and a metric when its database is edited under it", async () => {
    const target = ids.find((r) => r.level === 4)!;
    expect((await sqlite(join(hall.dir, 'hub', 'hub.db'), `UPDATE rating_facts SET level = 1 WHERE id = '${target.id}'`)).code).toBe(0);
    offset += DAY; // the next night
    await hall.hub!.ledger.runDaily();
    const alarms = await hall.api<{ alarms: { kind: string; message: string }[] }>('/api/alarms?open=1');
    expect(alarms.alarms.find((a) => a.kind === 'integrity')?.message).toContain(`rating_facts ${target.id} level`);
    const m = await (await fetch(`${hall.hubUrl}/metrics`, { headers: { authorization: `Bearer ${hall.adminToken}` } })).text();
    expect(m).toMatch(/hcp_ledger_mismatches\{table="rating_facts"\} 1/);
    expect(m).toMatch(/hcp_ledger_audits_total\{result="mismatch"\} 1/);
    // Put it back for the tests after this one.
    await sqlite(join(hall.dir, 'hub', 'hub.db'), `UPDATE rating_facts SET level = 4 WHERE id = '${target.id}'`);
  });
});

describe('the signed checkpoint reaches the province', () => {
  it("the day's checkpoint arrives at the stand-in province once, and its signature checks out with the hub's public key", async () => {
    const got = await waitFor(async () => {
      const r = (await (await fetch(`${hall.province.url}/api/messages?stream=checkpoint`)).json()) as {
        messages: { key: string; received: number; message: { day: string; body: string; sig: string; publicKey: string } }[];
      };
      return r.messages.length ? r.messages : undefined;
    }, 'checkpoint at the province');
    const first = got.find((m) => m.message.day === dayFromNumber(day))!;
    expect(first.received).toBe(1);
    expect(JSON.parse(first.message.body)).toMatchObject({ hall: 'test-hall', day: dayFromNumber(day), records: 8 });
    expect(first.message.publicKey).toBe(hall.hub!.ledger.key.publicKeyB64);
    expect(checkpointSignatureOk(first.message, hall.hub!.ledger.key.publicKey)).toBe(true);
    expect(
      checkpointSignatureOk(
        { ...first.message, body: first.message.body.replace('"records":8', '"records":9') },
        hall.hub!.ledger.key.publicKey,
      ),
    ).toBe(false);
  });
});

describe('export-day and verify-export: a day signed once stays provable', () => {
  it("an exported day verifies against its checkpoint and the hub's public key; the same file edited does not", async () => {
    const dir = await copyOfLive();
    const file = join(dir, 'day.json');
    const pub = join(dir, 'hub.pub');
    expect((await run('openssl', ['pkey', '-in', join(dir, HUB_KEY_FILE), '-pubout', '-out', pub])).code).toBe(0);
    const e = await cli(['hub', 'export-day', '--data', dir, '--date', dayFromNumber(day), '--out', file]);
    expect(e.code, e.stderr).toBe(0);
    const ok = await cli(['verify-export', file, '--hub-key', pub]);
    expect(ok.stdout).toContain(`OK — 8 records of ${dayFromNumber(day)} against the checkpoint (hub key given)`);
    expect(ok.code).toBe(0);

    // Someone turns a 差评 into 非常满意 in the file.
    const x = JSON.parse(readFileSync(file, 'utf8')) as { records: { id: string; level: number; record: { level: number } }[] };
    const victim = x.records.find((r) => r.level === 1)!;
    victim.level = 5;
    victim.record.level = 5;
    writeFileSync(file, JSON.stringify(x));
    const bad = await cli(['verify-export', file, '--hub-key', pub]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`MISMATCH records ${victim.id}`);
    expect(bad.stdout).toContain("record does not carry its device's signature");
    expect(bad.stdout).toMatch(/MISMATCH checkpoint \S+ merkleRoot: the records differ from what the checkpoint signed/);
  });

  it("a rating deleted from the database after the checkpoint makes that day's export fail", async () => {
    const dir = await copyOfLive();
    const gone = ids[ids.length - 1]!;
    await sqlite(join(dir, 'hub.db'), `DELETE FROM ratings WHERE id = '${gone.id}'`);
    const file = join(dir, 'day.json');
    expect((await cli(['hub', 'export-day', '--data', dir, '--date', dayFromNumber(day), '--out', file])).code).toBe(0);
    const r = await cli(['verify-export', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `MISMATCH checkpoint ${dayFromNumber(day)} records: the records differ from what the checkpoint signed — stored 7, expected 8`,
    );
    expect(r.stdout).toContain('(hub key taken from the file');
  });

  it('export-day for a day without a checkpoint says so in one line and exits 2', async () => {
    const dir = await copyOfLive();
    const r = await cli(['hub', 'export-day', '--data', dir, '--date', dayFromNumber(day + 5)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^错误 error: no checkpoint for \d{4}-\d{2}-\d{2} yet/);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
