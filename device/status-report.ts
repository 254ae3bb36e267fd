/**
 * `haochaping device status`: what hall IT needs to see at the device itself, read from the
 * data directory (read-only, so it works while the agent runs: the outbox is in WAL mode).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DeviceConfigSchema, type RatingRecord } from '../protocol/index.js';
import { CONFIG_CACHE_FILE, loadEnrolment } from './enrolment/enrolment.js';
import { readJsonFile } from '../common/atomic-file.js';
import { OUTBOX_FILE } from './outbox/outbox.js';
import { UPDATE_DIR } from './update/updater.js';

export interface DeviceStatusReport {
  dataDir: string;
  enrolled: boolean;
  hall: string | null;
  device: string | null;
  broker: string | null;
  config: { version: number; mode: string; buttons: number[]; paused: boolean; staff: string | null } | null;
  /** The last fleet update (device/update/), null if none. */
  update: { state: string; version: string; reason?: string } | null;
  outbox: {
    undelivered: number;
    delivered: number;
    rejected: number;
    lastSeq: number;
    oldestUndelivered: { seq: number; at: string; clockSynced: boolean } | null;
    refused: { seq: number; id: string; reason: string }[];
  } | null;
}

export function deviceStatusReport(dataDir: string): DeviceStatusReport {
  const e = loadEnrolment(dataDir);
  let config: DeviceStatusReport['config'] = null;
  try {
    const c = DeviceConfigSchema.safeParse(readJsonFile(join(dataDir, CONFIG_CACHE_FILE)));
    if (c.success)
      config = {
        version: c.data.version,
        mode: c.data.mode,
        buttons: c.data.buttons,
        paused: c.data.paused,
        staff: c.data.staff?.name ?? null,
      };
  } catch {
    config = null;
  }
  const path = join(dataDir, OUTBOX_FILE);
  let outbox: DeviceStatusReport['outbox'] = null;
  if (existsSync(path)) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const count = (state: string) =>
        db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM records WHERE state = ?').get(state)!.n;
      const oldest = db.prepare<[], { body: string }>("SELECT body FROM records WHERE state = 'pending' ORDER BY seq LIMIT 1").get();
      const o = oldest ? (JSON.parse(oldest.body) as RatingRecord) : null;
      outbox = {
        undelivered: count('pending'),
        delivered: count('acked'),
        rejected: count('rejected'),
        lastSeq: db.prepare<[], { seq: number }>('SELECT seq FROM chain WHERE id = 1').get()?.seq ?? 0,
        oldestUndelivered: o ? { seq: o.seq, at: new Date(o.at).toISOString(), clockSynced: o.clockSynced } : null,
        refused: db
          .prepare<[], { seq: number; id: string; reject_reason: string }>(
            "SELECT seq, id, reject_reason FROM records WHERE state = 'rejected' ORDER BY seq LIMIT 20",
          )
          .all()
          .map((r) => ({ seq: r.seq, id: r.id, reason: r.reject_reason })),
      };
    } finally {
      db.close();
    }
  }
  let update: DeviceStatusReport['update'] = null;
  try {
    update = (readJsonFile(join(dataDir, UPDATE_DIR, 'state.json')) as { report?: DeviceStatusReport['update'] } | null)?.report ?? null;
  } catch {
    update = null;
  }
  return {
    dataDir,
    enrolled: e !== null,
    hall: e?.hall ?? null,
    device: e?.device ?? null,
    broker: e?.mqttUrl ?? null,
    config,
    update,
    outbox,
  };
}

export function formatDeviceStatus(r: DeviceStatusReport): string {
  if (!r.enrolled) return `${r.dataDir}: not enrolled (run "haochaping device enrol")`;
  const lines = [`device ${r.device} of hall ${r.hall}, broker ${r.broker}`];
  if (r.config)
    lines.push(
      `config v${r.config.version}: ${r.config.mode} mode, ${r.config.buttons.length} buttons (${r.config.buttons.join(' ')})${r.config.paused ? ', PAUSED' : ''}, staff ${r.config.staff ?? '-'}`,
    );
  if (r.update) lines.push(`fleet update: release ${r.update.version} ${r.update.state}${r.update.reason ? ` (${r.update.reason})` : ''}`);
  const o = r.outbox;
  if (!o) lines.push('outbox: none yet (no rating recorded)');
  else {
    lines.push(
      `outbox: ${o.undelivered} undelivered, ${o.delivered} delivered kept, ${o.rejected} refused by the hub; last sequence ${o.lastSeq}`,
    );
    if (o.oldestUndelivered)
      lines.push(
        `oldest undelivered: seq ${o.oldestUndelivered.seq}, recorded ${o.oldestUndelivered.at}${o.oldestUndelivered.clockSynced ? '' : ' (device clock was not synced)'}`,
      );
    for (const x of o.refused) lines.push(`refused: seq ${x.seq} ${x.id}: ${x.reason}`);
  }
  return lines.join('\n');
}
