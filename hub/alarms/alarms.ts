/**
 * Alarms: things hall IT must look at, never just a log line. A forked chain or a record
 * that fails its device's signature means a device is broken, cloned or being impersonated;
 * a sequence gap means records are missing. Each is kept in the database, counted in
 * `hcp_alarms_total{kind}`, logged at error level and announced on the event bus.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { HubEvents } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';

export const ALARMS_MIGRATION = `
  CREATE TABLE alarms (
    n INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    device TEXT,
    message TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    acknowledged_at INTEGER
  );
  CREATE INDEX alarms_open ON alarms (acknowledged_at, at);
`;

export type AlarmKind =
  | 'bad-signature'
  | 'chain-fork'
  | 'sequence-gap'
  | 'id-conflict'
  | 'device-impersonation'
  // hub/ledger: a stored record, fact, rollup or trail no longer matches what it was derived from or signed as.
  | 'integrity'
  // Issue 16: a record's claims disagree with the hub's attribution; a device rates faster than
  // people press; a record over the size limit was refused; a device reports a size-contract fault.
  | 'attribution-mismatch'
  | 'rate-exceeded'
  | 'record-refused'
  | 'device-fault';

export interface Alarm {
  n: number;
  at: number;
  kind: AlarmKind;
  device: string | null;
  message: string;
  detail: Record<string, unknown>;
  acknowledgedAt: number | null;
}

interface Row {
  n: number;
  at: number;
  kind: AlarmKind;
  device: string | null;
  message: string;
  detail: string;
  acknowledged_at: number | null;
}

const toAlarm = (r: Row): Alarm => ({
  n: r.n,
  at: r.at,
  kind: r.kind,
  device: r.device,
  message: r.message,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  acknowledgedAt: r.acknowledged_at,
});

export class Alarms {
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly events: EventEmitter<HubEvents>,
    private readonly now: () => number = Date.now,
  ) {}

  raise(kind: AlarmKind, device: string | null, message: string, detail: Record<string, unknown> = {}): void {
    try {
      const at = this.now();
      const n = Number(
        this.db
          .prepare('INSERT INTO alarms (at, kind, device, message, detail) VALUES (?, ?, ?, ?, ?)')
          .run(at, kind, device, message, JSON.stringify(detail)).lastInsertRowid,
      );
      this.metrics.alarms.inc({ kind });
      this.log.error({ alarm: kind, device, ...detail }, `ALARM: ${message}`);
      this.events.emit('alarm', { n, at, kind, device, message, detail, acknowledgedAt: null });
    } catch (e) {
      this.log.error({ err: e, kind, device }, 'could not record an alarm');
    }
  }

  list(opts: { open?: boolean; limit?: number } = {}): Alarm[] {
    const where = opts.open ? 'WHERE acknowledged_at IS NULL' : '';
    return this.db
      .prepare<[number], Row>(`SELECT * FROM alarms ${where} ORDER BY n DESC LIMIT ?`)
      .all(opts.limit ?? 200)
      .map(toAlarm);
  }

  acknowledge(n: number): boolean {
    return this.db.prepare('UPDATE alarms SET acknowledged_at = ? WHERE n = ? AND acknowledged_at IS NULL').run(this.now(), n).changes > 0;
  }
}
