/**
 * What hall IT and the queue system do to the hall, each as one operation that keeps the
 * registry, the broker and the devices consistent: a revoked device is cut off at once, a
 * changed config is pushed (retained, with a new version), a session reaches its device.
 * The API routes and the CLI (through the API) call these; none of them talks to MQTT itself.
 */
import type { Logger } from 'pino';
import {
  checkRecordFits,
  encode,
  MAX_BYTES,
  newRecordId,
  OversizedMessageError,
  PROTOCOL_VERSION,
  topic,
  wireBytes,
  type DeviceConfig,
  type SessionMessage,
  type SessionRef,
} from '../protocol/index.js';
import type { Connections } from './broker/connections.js';
import type { Db } from './store/db.js';
import { RegistryError, type DeviceRow, type DeviceSettings, type HallSettings, type Registry } from './registry/registry.js';
import { SessionError, type SessionBook, type SessionView } from './sessions/session-book.js';

export interface OpenSessionRequest {
  id?: string;
  window: string;
  /** Needed only when a window has more than one device. */
  device?: string;
  cases: string[];
  itemCode?: string | null;
  itemName?: string | null;
  /** Default: the staff member on duty at the window. */
  staffId?: string | null;
}

export class HallOps {
  constructor(
    private readonly o: {
      registry: Registry;
      connections: Connections;
      sessions: SessionBook;
      publish: (topic: string, payload: Buffer, retain: boolean) => void;
      pushConfig: (config: DeviceConfig) => void;
      log: Logger;
      /** For settings changes that are undone when a resulting config would not fit its byte limit. */
      db: Db;
    },
  ) {}

  /**
   * The size contract for configs: a config that cannot cross the wire would never reach the
   * device, which would keep rating with the old one. Throws (inside the caller's transaction,
   * so the change is rolled back) before anything is pushed.
   */
  private checkConfigFits(config: DeviceConfig): void {
    const bytes = wireBytes(config);
    if (bytes > MAX_BYTES.config) {
      throw new SessionError(
        'too-large',
        new OversizedMessageError('config', bytes, MAX_BYTES.config, `the config of device ${config.device}`).message +
          ': use a shorter reason catalogue or shorter texts',
      );
    }
  }

  revoke(id: string): DeviceRow {
    const row = this.o.registry.revoke(id);
    const cut = this.o.connections.disconnect(id);
    // Its retained config goes too: nobody may read it any more.
    this.o.publish(topic(row.hall, id, 'config'), Buffer.alloc(0), true);
    this.o.log.warn({ device: id, disconnected: cut }, 'device revoked');
    return row;
  }

  reenrol(id: string): { device: DeviceRow; token: string } {
    const r = this.o.registry.reenrol(id);
    this.o.connections.disconnect(id);
    this.o.publish(topic(r.device.hall, id, 'config'), Buffer.alloc(0), true);
    this.o.log.warn({ device: id }, 'device re-enrolment started: its secret is no longer accepted; a new key will start a new chain');
    return r;
  }

  /** Changes one device's settings (and window); pushes the new config if it changed. */
  updateDevice(id: string, settings: DeviceSettings, window?: string): { device: DeviceRow; config: DeviceConfig; changed: boolean } {
    const { device, changed, config } = this.o.db.transaction(() => {
      const r = this.o.registry.updateSettings(id, settings, window);
      const c = this.o.registry.config(r.device);
      if (r.changed) this.checkConfigFits(c);
      return { ...r, config: c };
    })();
    if (changed && device.enrolled_at !== null && device.revoked_at === null) this.o.pushConfig(config);
    return { device, config, changed };
  }

  /** Replaces the hall-wide settings (e.g. the province's reason catalogue) and pushes every changed config. */
  setHallSettings(settings: HallSettings): { device: string; version: number }[] {
    const changed = this.o.db.transaction(() => {
      const devices = this.o.registry.setHallSettings(settings);
      for (const d of devices) this.checkConfigFits(this.o.registry.config(d));
      return devices;
    })();
    for (const d of changed) if (d.enrolled_at !== null && d.revoked_at === null) this.o.pushConfig(this.o.registry.config(d));
    this.o.log.info({ devices: changed.length }, 'hall settings changed');
    return changed.map((d) => ({ device: d.id, version: d.config_version }));
  }

  /** Applies settings to every device at a window (staff log in/out, pause/resume). */
  updateWindow(window: string, settings: DeviceSettings): { device: string; version: number; changed: boolean }[] {
    const devices = this.o.registry.atWindow(window);
    if (devices.length === 0) throw new RegistryError('not-found', `no device in service at window ${window}`);
    return devices.map((d) => {
      const r = this.updateDevice(d.id, settings);
      return { device: d.id, version: r.config.version, changed: r.changed };
    });
  }

  private deviceFor(window: string, device?: string): DeviceRow {
    const at = this.o.registry.atWindow(window);
    if (device) {
      const d = at.find((x) => x.id === device);
      if (!d) throw new RegistryError('not-found', `device ${device} is not in service at window ${window}`);
      return d;
    }
    if (at.length === 0) throw new RegistryError('not-found', `no device in service at window ${window}`);
    if (at.length > 1)
      throw new RegistryError(
        'invalid',
        `window ${window} has ${at.length} devices (${at.map((d) => d.id).join(', ')}); say which one with "device"`,
      );
    return at[0]!;
  }

  /** Opens a session and sends it to the window's device. `delivered` is false if the device is offline. */
  openSession(req: OpenSessionRequest): { session: SessionView; created: boolean; delivered: boolean } {
    const d = this.deviceFor(req.window, req.device);
    const config = this.o.registry.config(d);
    // The device would ignore it, and the case would silently get the default a week later.
    if (config.paused && !(req.id && this.o.sessions.get(req.id)))
      throw new SessionError('paused', `window ${d.window} is paused; resume it before opening sessions`);
    const staffId = req.staffId !== undefined ? req.staffId : (config.staff?.id ?? null);
    const id = req.id ?? newRecordId();
    this.checkSessionFits(config, { id, cases: req.cases, itemCode: req.itemCode ?? null, itemName: req.itemName ?? null }, staffId);
    const { session, ref, created } = this.o.sessions.open({
      id,
      device: d.id,
      window: d.window,
      cases: req.cases,
      itemCode: req.itemCode ?? null,
      itemName: req.itemName ?? null,
      staffId,
    });
    const delivered = this.o.connections.isConnected(d.id);
    if (created || session.state === 'open') {
      const msg: SessionMessage = { v: PROTOCOL_VERSION, op: 'open', session: ref, staffId, openedAt: session.openedAt };
      this.o.publish(topic(d.hall, d.id, 'session'), encode('session', msg), false);
    }
    if (!delivered)
      this.o.log.warn(
        { session: session.id, device: d.id },
        'session opened while its device is offline: the default will apply unless it is rated',
      );
    return { session, created, delivered };
  }

  /**
   * The size contract for sessions: refused before anything is stored or sent if its message,
   * or any record the device could make from it (level 1 with every reason, all the cases), would
   * exceed the protocol's limit. The device runs the same check and would not prompt for it.
   */
  private checkSessionFits(config: DeviceConfig, ref: SessionRef, staffId: string | null): void {
    const hint = ': send fewer or shorter case numbers (split the batch) or a shorter item name';
    const msgBytes = wireBytes({ v: PROTOCOL_VERSION, op: 'open', session: ref, staffId, openedAt: Number.MAX_SAFE_INTEGER });
    if (msgBytes > MAX_BYTES.session)
      throw new SessionError(
        'too-large',
        new OversizedMessageError('session', msgBytes, MAX_BYTES.session, 'the session message').message + hint,
      );
    const tooBig = checkRecordFits({
      hall: config.hall,
      device: config.device,
      window: config.window,
      staffId,
      catalogue: config.catalogue.version,
      session: ref,
    });
    if (tooBig) throw new SessionError('too-large', tooBig.message + hint);
  }

  cancelSession(id: string): SessionView {
    const s = this.o.sessions.cancel(id);
    const d = this.o.registry.get(s.device);
    if (d) this.o.publish(topic(d.hall, d.id, 'session'), encode('session', { v: PROTOCOL_VERSION, op: 'cancel', sessionId: id }), false);
    return s;
  }
}
