/**
 * What the hub knows about each device's health: its last status message (retained; the
 * last will says offline), whether it is connected right now, when it was last heard from,
 * its firmware, outbox backlog, clock state and faults. The hub notes the offset it observes
 * between the device's clock and its own when a status arrives (a Pi has no RTC): transit
 * takes milliseconds, so an offset of seconds or more is the device's clock being wrong.
 */
import type { Logger } from 'pino';
import { decode, parseTopic, type Status } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';

export const STATUS_MIGRATION = `
  ALTER TABLE device_status ADD COLUMN last_seen INTEGER;
  ALTER TABLE device_status ADD COLUMN clock_offset_ms INTEGER;
`;

/** An offset beyond this is reported as a clock fault in the API. */
export const CLOCK_TOLERANCE_MS = 5_000;

export interface DeviceHealth {
  /** Connected to the broker right now. */
  online: boolean;
  /** The state the device itself last published ('offline' is its last will). */
  reportedState: Status['state'] | null;
  lastSeen: number | null;
  statusAt: number | null;
  firmware: string | null;
  bootId: string | null;
  uptimeS: number | null;
  backlog: { depth: number; oldestAgeS: number | null; capacity: number; lastSeq: number } | null;
  clock: { synced: boolean; offsetMs: number | null; ok: boolean } | null;
  faults: string[];
  mode: Status['mode'] | null;
  counters: Record<string, number>;
}

type StatusRow = { state: string; body: string; updated_at: number; last_seen: number | null; clock_offset_ms: number | null };

/** How long status writes wait to share one transaction (and one fsync) with others. */
const WRITE_DELAY_MS = 200;

export class DeviceStatusStore {
  private readonly lastSeen = new Map<string, number>();
  private readonly stmts;
  /**
   * Written together every WRITE_DELAY_MS, in one transaction: each was an autocommit (an fsync)
   * of its own, 11 % of the hub's time when 400 devices reconnected and drained their backlogs
   * (bench:backlog). Status is health, not ratings: a power cut loses at most the last 200 ms of
   * it, and the devices publish it again on their next connect.
   */
  private readonly pending = new Map<string, StatusRow>();
  private readonly pendingSeen = new Map<string, number>();
  private writeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly onStatus: (device: string, status: Status) => void = () => {},
    private readonly now: () => number = Date.now,
    private readonly metrics?: Metrics,
    private readonly isConnected: (device: string) => boolean = () => false,
  ) {
    this.stmts = {
      upsert: db.prepare(`INSERT INTO device_status (device, state, body, updated_at, last_seen, clock_offset_ms) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (device) DO UPDATE SET state = excluded.state, body = excluded.body, updated_at = excluded.updated_at, last_seen = excluded.last_seen, clock_offset_ms = excluded.clock_offset_ms`),
      seen: db.prepare('UPDATE device_status SET last_seen = ? WHERE device = ?'),
      get: db.prepare<[string], { body: string; updated_at: number; last_seen: number | null; clock_offset_ms: number | null }>(
        'SELECT body, updated_at, last_seen, clock_offset_ms FROM device_status WHERE device = ?',
      ),
    };
  }

  /** Takes a message published on a status topic by `clientId`; returns false if refused. Never throws. */
  submit(clientId: string | null, topicName: string, payload: Buffer): boolean {
    try {
      const addr = parseTopic(topicName);
      if (!addr || addr.kind !== 'status' || (clientId !== null && clientId !== addr.device)) return false;
      const d = decode('status', payload);
      if (!d.ok) {
        this.log.warn({ device: addr.device, err: d.error.message }, 'ignored invalid status');
        return false;
      }
      const now = this.now();
      const s = d.value;
      // A last will was made when the device connected: its clock reading is stale.
      const offset = s.state === 'online' ? s.at - now : null;
      this.lastSeen.set(addr.device, now);
      this.pending.set(addr.device, { state: s.state, body: JSON.stringify(s), updated_at: now, last_seen: now, clock_offset_ms: offset });
      this.pendingSeen.delete(addr.device);
      this.scheduleWrite();
      if (this.metrics) {
        this.metrics.deviceBacklog.set({ device: addr.device }, s.outbox.depth);
        if (offset !== null) this.metrics.deviceClockOffset.set({ device: addr.device }, offset / 1000);
      }
      this.onStatus(addr.device, s);
      return true;
    } catch (e) {
      this.log.error({ err: e, clientId }, 'status handling failed');
      return false;
    }
  }

  /** Any message from the device counts as a sign of life. */
  seen(device: string): void {
    const now = this.now();
    const last = this.lastSeen.get(device) ?? 0;
    this.lastSeen.set(device, now);
    // Written through at most every few seconds: the map is the live value.
    if (now - last > 5_000) {
      const p = this.pending.get(device);
      if (p) p.last_seen = now;
      else this.pendingSeen.set(device, now);
      this.scheduleWrite();
    }
  }

  private scheduleWrite(): void {
    if (this.writeTimer) return;
    this.writeTimer = setTimeout(() => this.flush(), WRITE_DELAY_MS);
    this.writeTimer.unref();
  }

  /** Writes what waits, in one transaction (also called when the hub stops, before the database closes). */
  flush(): void {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = null;
    if (!this.pending.size && !this.pendingSeen.size) return;
    try {
      this.db.transaction(() => {
        for (const [device, r] of this.pending)
          this.stmts.upsert.run(device, r.state, r.body, r.updated_at, r.last_seen, r.clock_offset_ms);
        for (const [device, at] of this.pendingSeen) this.stmts.seen.run(at, device);
      })();
    } catch (e) {
      // A full disk: the live values (lastSeen, the status event) still went out; the next status rewrites the row.
      this.log.warn({ err: e, devices: this.pending.size + this.pendingSeen.size }, 'could not write device status');
    }
    this.pending.clear();
    this.pendingSeen.clear();
  }

  /** The device's status row: what waits to be written, else what is stored. */
  private row(device: string): Omit<StatusRow, 'state'> | undefined {
    return this.pending.get(device) ?? this.stmts.get.get(device);
  }

  setOnline(device: string, online: boolean): void {
    this.metrics?.deviceOnline.set({ device }, online ? 1 : 0);
    if (online) this.seen(device);
  }

  get(device: string): { status: Status; updatedAt: number } | null {
    const row = this.row(device);
    return row ? { status: JSON.parse(row.body) as Status, updatedAt: row.updated_at } : null;
  }

  health(device: string): DeviceHealth {
    const row = this.row(device);
    const s = row ? (JSON.parse(row.body) as Status) : null;
    const offset = row?.clock_offset_ms ?? null;
    return {
      online: this.isConnected(device),
      reportedState: s?.state ?? null,
      lastSeen: this.lastSeen.get(device) ?? row?.last_seen ?? null,
      statusAt: row?.updated_at ?? null,
      firmware: s?.firmware ?? null,
      bootId: s?.bootId ?? null,
      uptimeS: s?.uptimeS ?? null,
      backlog: s ? s.outbox : null,
      clock: s
        ? { synced: s.clockSynced, offsetMs: offset, ok: s.clockSynced && (offset === null || Math.abs(offset) <= CLOCK_TOLERANCE_MS) }
        : null,
      faults: s?.faults ?? [],
      mode: s?.mode ?? null,
      counters: s?.counters ?? {},
    };
  }
}
