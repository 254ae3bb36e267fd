import type { Logger } from 'pino';
import { decode, parseTopic, type Status } from '../../protocol/index.js';
import type { Db } from '../store/db.js';

/** Keeps the last status each device published (retained; the last will says offline). */
export class DeviceStatusStore {
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly onStatus: (device: string, status: Status) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a message published on a status topic by `clientId`; returns false if refused. */
  submit(clientId: string | null, topicName: string, payload: Buffer): boolean {
    const addr = parseTopic(topicName);
    if (!addr || addr.kind !== 'status' || (clientId !== null && clientId !== addr.device)) return false;
    const d = decode('status', payload);
    if (!d.ok) {
      this.log.warn({ device: addr.device, err: d.error.message }, 'ignored invalid status');
      return false;
    }
    this.db
      .prepare('INSERT INTO device_status (device, state, body, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET state = excluded.state, body = excluded.body, updated_at = excluded.updated_at')
      .run(addr.device, d.value.state, JSON.stringify(d.value), this.now());
    this.onStatus(addr.device, d.value);
    return true;
  }

  get(device: string): { status: Status; updatedAt: number } | null {
    const row = this.db.prepare<[string], { body: string; updated_at: number }>('SELECT body, updated_at FROM device_status WHERE device = ?').get(device);
    return row ? { status: JSON.parse(row.body) as Status, updatedAt: row.updated_at } : null;
  }
}
