/**
 * The simulator's client of the hub's HTTP API, and its stand-in for the window business /
 * queue system. Device registration and stats use the hub's API as it is. The queue-system
 * calls (open/cancel a session, staff log in/out, pause/resume) go through `QueueSystem`:
 * until the hub serves them, `DirectQueueSystem` delivers the same `session`/`config`
 * messages straight to the device, as the hub would publish them. After the hub's API lands,
 * `HubQueueSystem` is the one to use — that is the only place to change.
 */
import { randomUUID } from 'node:crypto';
import { PROTOCOL_VERSION, type DeviceConfig, type SessionMessage, type SessionRef, type Staff } from '../protocol/index.js';
import type { DeviceSettings } from '../hub/registry/registry.js';
import type { SimDevice } from './devices/sim-device.js';

export interface HubStats {
  stored: number;
  ratings: number;
  forwarded: number;
  forwardRejected: number;
  backlog: number;
  rejections: Record<string, number>;
  gaps: number;
}

export class HubApiError extends Error {
  override readonly name = 'HubApiError';
  constructor(
    readonly status: number,
    readonly path: string,
    body: string,
  ) {
    super(`${path}: ${status} ${body.slice(0, 300)}`);
  }
}

export class HubClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async api<T = Record<string, unknown>>(path: string, body?: unknown, method?: string): Promise<T> {
    const r = await fetch(`${this.url}${path}`, {
      method: method ?? (body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    if (!r.ok) throw new HubApiError(r.status, path, text);
    return JSON.parse(text) as T;
  }

  addDevice(window: string, id: string, settings: DeviceSettings): Promise<{ token: string; device: { id: string } }> {
    return this.api('/api/devices', { window, id, settings });
  }

  stats(): Promise<HubStats> {
    return this.api<HubStats>('/api/stats');
  }
}

/** A case finished at a window: what the queue system sends (one case, or a batch). */
export interface CaseFinished {
  cases: string[];
  itemCode: string | null;
  itemName: string | null;
  staffId: string | null;
}

export interface QueueSystem {
  readonly via: 'hub-api' | 'direct';
  openSession(d: SimDevice, c: CaseFinished): Promise<SessionRef | null>;
  cancelSession(d: SimDevice, sessionId: string): Promise<boolean>;
  staffLogIn(d: SimDevice, staff: Staff): Promise<boolean>;
  staffLogOut(d: SimDevice): Promise<boolean>;
  setPaused(d: SimDevice, paused: boolean): Promise<boolean>;
}

/**
 * The queue system through the hub's API (POST /api/sessions, POST /api/sessions/:id/cancel,
 * PUT|DELETE /api/windows/:window/staff, POST /api/windows/:window/pause|resume): the real
 * path — the hub records the session (and later its 7-day default) and publishes it to the
 * device over MQTT, so a network cut or a hub outage stops sessions as it would in a hall.
 */
export class HubQueueSystem implements QueueSystem {
  readonly via = 'hub-api' as const;

  constructor(private readonly hub: HubClient) {}

  async openSession(d: SimDevice, c: CaseFinished): Promise<SessionRef | null> {
    const r = await this.hub.api<{ session: { id: string } }>('/api/sessions', {
      window: d.window,
      device: d.id,
      cases: c.cases,
      itemCode: c.itemCode,
      itemName: c.itemName,
      staffId: c.staffId,
    });
    return { id: r.session.id, cases: c.cases, itemCode: c.itemCode, itemName: c.itemName };
  }

  async cancelSession(_d: SimDevice, sessionId: string): Promise<boolean> {
    await this.hub.api(`/api/sessions/${encodeURIComponent(sessionId)}/cancel`, {});
    return true;
  }

  private window(d: SimDevice): string {
    return `/api/windows/${encodeURIComponent(d.window)}`;
  }

  async staffLogIn(d: SimDevice, staff: Staff): Promise<boolean> {
    await this.hub.api(`${this.window(d)}/staff`, staff, 'PUT');
    return true;
  }

  async staffLogOut(d: SimDevice): Promise<boolean> {
    await this.hub.api(`${this.window(d)}/staff`, undefined, 'DELETE');
    return true;
  }

  async setPaused(d: SimDevice, paused: boolean): Promise<boolean> {
    await this.hub.api(`${this.window(d)}/${paused ? 'pause' : 'resume'}`, {});
    return true;
  }
}

/** The hub's queue-system API if this hub serves it, else the direct stand-in. */
export async function detectQueueSystem(hub: HubClient): Promise<QueueSystem> {
  try {
    await hub.api('/api/sessions?limit=1');
    return new HubQueueSystem(hub);
  } catch (e) {
    if (e instanceof HubApiError && e.status === 404) return new DirectQueueSystem();
    throw e;
  }
}

/**
 * Stand-in until the hub's queue-system API exists: hands the device the very messages the
 * hub would publish. It bypasses the broker, so a network cut does not stop sessions — the
 * account says `sessionsVia: "direct"` so nobody mistakes it for the real path.
 */
export class DirectQueueSystem implements QueueSystem {
  readonly via = 'direct' as const;

  async openSession(d: SimDevice, c: CaseFinished): Promise<SessionRef | null> {
    const session: SessionRef = { id: `s-${randomUUID()}`, cases: c.cases, itemCode: c.itemCode, itemName: c.itemName };
    const m: SessionMessage = { v: PROTOCOL_VERSION, op: 'open', session, staffId: c.staffId, openedAt: Date.now() };
    return d.deliverSession(m) ? session : null;
  }

  async cancelSession(d: SimDevice, sessionId: string): Promise<boolean> {
    return d.deliverSession({ v: PROTOCOL_VERSION, op: 'cancel', sessionId });
  }

  private reconfigure(d: SimDevice, change: Partial<DeviceConfig>): boolean {
    if (!d.config) return false;
    const c: DeviceConfig = { ...d.config, ...change, version: d.config.version + 1 };
    return d.deliverConfig(c);
  }

  async staffLogIn(d: SimDevice, staff: Staff): Promise<boolean> {
    return this.reconfigure(d, { staff });
  }

  async staffLogOut(d: SimDevice): Promise<boolean> {
    return this.reconfigure(d, { staff: null });
  }

  async setPaused(d: SimDevice, paused: boolean): Promise<boolean> {
    return this.reconfigure(d, { paused });
  }
}
