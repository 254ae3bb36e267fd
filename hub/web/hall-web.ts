/**
 * The hall web page's composition root: staff accounts and log-ins, the wall's tiles and
 * summary, and the live feed, over the hall's records (facts, work orders, alerts — filled by
 * the FactSync part, hub/facts/). A hub part: start() subscribes to the event bus (devices
 * connecting, configs, new facts) and stop() ends the live streams. Building one opens and
 * reads nothing: the database is open and the policy profile loaded before (HallWeb.open for
 * callers that start from a configuration).
 */
import type { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../protocol/index.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { Part } from '../../common/lifecycle.js';
import { dayNumber, WorkingDayCalendar } from '../calendar/working-days.js';
import type { HubEvents } from '../events.js';
import type { FactBatch } from '../facts/fact-sync.js';
import { HallRecords } from '../facts/hall-records.js';
import type { Metrics } from '../metrics.js';
import type { DeviceRow, Registry } from '../registry/registry.js';
import type { ClusterWatch } from '../stats/alerts.js';
import type { Facts } from '../stats/facts.js';
import type { MisuseWatch } from '../stats/misuse-alerts.js';
import type { StatsQueries } from '../stats/queries.js';
import type { DeviceStatusStore } from '../status/device-status.js';
import type { Db } from '../store/db.js';
import { AuditLog } from '../users/audit.js';
import { LoginSessions } from '../users/login-sessions.js';
import { Users } from '../users/users.js';
import { loadPolicy, type PolicyProfile } from '../workorders/policy.js';
import type { WorkOrders } from '../workorders/store.js';
import { WebConfigSchema, type WebConfig, type WebConfigInput } from './config.js';
import { LiveFeed } from './live.js';
import { deviceUpdateOf } from '../releases/releases.js';

export const INITIAL_PASSWORD_FILE = 'web-admin.password';

export interface HallWebDeps {
  db: Db;
  registry: Registry;
  status: DeviceStatusStore;
  events: EventEmitter<HubEvents>;
  log: Logger;
  metrics: Metrics;
  config?: WebConfigInput;
  /** The hall's facts, work orders and alerts (shared with FactSync). */
  records: HallRecords;
  /** Where the first admin's password is left (the hub's data directory). */
  dataDir: string;
  now?: () => number;
}

/** HallWeb.open's input: the records are built here, from the policy named in the config unless one is given. */
export interface HallWebOpenDeps extends Omit<HallWebDeps, 'records'> {
  /** The 差评 policy, already loaded (the hub's preflight); default: loadPolicy(config.policy). */
  profile?: PolicyProfile;
  /** The hub's one working-day calendar (the 差评 deadlines); default: the official one. */
  calendar?: WorkingDayCalendar;
  /** This hall's id (milestones sent to the province name it). */
  hall?: string;
  /** The hand-off destination's name (e.g. 12345), when one is configured: enables 转办. */
  handoffTarget?: string | null;
}

export interface Tile {
  id: string;
  window: string;
  windowName: string | null;
  name: string | null;
  state: 'online' | 'offline' | 'paused' | 'never' | 'revoked';
  online: boolean;
  paused: boolean;
  mode: string | null;
  staff: { id: string; name: string; number: string | null } | null;
  backlog: number | null;
  oldestAgeS: number | null;
  faults: string[];
  clockSynced: boolean | null;
  firmware: string | null;
  /** The device's last fleet update (version, state, reason), null if none. */
  update: { version: string; state: string; reason?: string } | null;
  statusAt: number | null;
  lastRating: { level: number; at: number } | null;
  /** misuse: presses kept but not counted under the hall's flag policy. */
  today: { total: number; bad: number; misuse?: number };
}

export interface WallSummary {
  devices: number;
  online: number;
  offline: number;
  paused: number;
  today: { total: number; bad: number; satisfaction: number | null };
  orders: { open: number; overdue: number };
  alerts: number;
}

export class HallWeb implements Part {
  readonly name = 'hall-web';
  readonly config: WebConfig;
  readonly audit: AuditLog;
  readonly users: Users;
  readonly logins: LoginSessions;
  readonly records: HallRecords;
  readonly facts: Facts;
  readonly stats: StatsQueries;
  readonly workOrders: WorkOrders;
  readonly alerts: ClusterWatch;
  readonly misuse: MisuseWatch;
  readonly live = new LiveFeed();
  readonly profile: PolicyProfile;
  readonly calendar: WorkingDayCalendar;
  readonly now: () => number;
  /** The hand-off destination's name, or null when none is configured. */
  readonly handoffTarget: string | null;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly listeners: { [K in keyof HubEvents]?: (...args: HubEvents[K]) => void } = {
    status: (device) => this.pushTile(device),
    // Whether a device is connected is the status store's answer (the broker's current
    // connection, so a taken-over connection's close does not turn the tile grey).
    connected: (id) => this.pushTile(id),
    disconnected: (id) => this.pushTile(id),
    // Staff log-in/out, pause/resume and settings from the window API arrive as new configs.
    config: (c) => this.pushTile(c.device),
    facts: (batch) => this.onFacts(batch),
    // What a citizen wrote on the QR page goes beside the rating on the wall (set as text there).
    citizen: (_kind, ratingId, text) => {
      if (text) this.live.send('citizen-text', { id: ratingId, text });
    },
  };

  /** Builds the page from a configuration: loads the policy it names (a file read) unless one is given. */
  static open(d: HallWebOpenDeps): HallWeb {
    const config = WebConfigSchema.parse(d.config ?? {});
    const now = d.now ?? Date.now;
    const records = new HallRecords({
      db: d.db,
      registry: d.registry,
      rules: config,
      profile: d.profile ?? loadPolicy(config.policy),
      calendar: d.calendar ?? new WorkingDayCalendar(),
      now,
      hall: d.hall,
      handoffTarget: d.handoffTarget,
    });
    return new HallWeb({ ...d, now, records });
  }

  constructor(readonly d: HallWebDeps) {
    this.config = WebConfigSchema.parse(d.config ?? {});
    this.now = d.now ?? Date.now;
    this.log = d.log.child({ part: 'web' });
    this.records = d.records;
    ({
      facts: this.facts,
      stats: this.stats,
      workOrders: this.workOrders,
      alerts: this.alerts,
      misuse: this.misuse,
      profile: this.profile,
      calendar: this.calendar,
      handoffTarget: this.handoffTarget,
    } = d.records);
    this.audit = new AuditLog(d.db, this.now);
    this.users = new Users(d.db, this.audit, this.now);
    this.logins = new LoginSessions(
      d.db,
      this.users,
      { idleMs: this.config.sessionIdleMinutes * 60_000, maxMs: this.config.sessionMaxHours * 3_600_000 },
      this.now,
    );
  }

  /**
   * Creates the first admin account if there is none; its password (given — the hub passes
   * HCP_WEB_ADMIN_PASSWORD, checked by the preflight — or generated) goes to a file only root reads.
   */
  async ensureInitialAdmin(password: string | null = null): Promise<string | null> {
    if (this.users.count() > 0) return null;
    const file = join(this.d.dataDir, INITIAL_PASSWORD_FILE);
    const made = await this.users.add('system', {
      name: 'admin',
      role: 'admin',
      displayName: '管理员',
      password: password ?? undefined,
    });
    writeFileAtomic(file, `admin\n${made.password}\n`, 0o600);
    this.log.info({ file }, 'created the first web admin account "admin"; its password is in this file');
    return made.password;
  }

  /** Listens to the event bus (from before the broker starts, so the wall sees every device connect). */
  start(): void {
    this.stopped = false;
    for (const [event, f] of Object.entries(this.listeners)) this.d.events.on(event as keyof HubEvents, f as never);
    this.timer = setInterval(() => this.logins.prune(), 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const [event, f] of Object.entries(this.listeners)) this.d.events.off(event as keyof HubEvents, f as never);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    this.summaryTimer = null;
    this.live.close();
  }

  /** New facts, work orders and alerts (FactSync): what is recent goes to the live feed. */
  private onFacts({ added, orders, clusters, misuse, recentSince }: FactBatch): void {
    for (const f of added) {
      // Backfilled history is not news for the live feed.
      if (f.receivedAt >= recentSince)
        this.live.send('rating', {
          id: f.id,
          at: f.at,
          window: f.window,
          staffId: f.staffId,
          level: f.level,
          channel: f.channel,
          itemName: f.itemName,
          flags: f.flags?.length ? f.flags.join(',') : null,
          excluded: f.policy === 'exclude' ? 'misuse' : null,
        });
    }
    for (const o of orders)
      if (o.createdAt >= recentSince)
        this.live.send('workorder', { id: o.id, window: o.window, level: o.level, state: o.state, dueAt: o.dueAt });
    for (const a of clusters) this.live.send('alert', a);
    for (const a of misuse) this.live.send('alert', a);
    if (this.live.size > 0) {
      const windows = new Set(added.filter((f) => f.receivedAt >= recentSince).map((f) => f.window));
      for (const dev of this.d.registry.list()) if (windows.has(dev.window)) this.pushTile(dev.id);
      this.pushSummary();
    }
  }

  private pushTile(device: string): void {
    if (this.live.size === 0) return;
    const row = this.d.registry.get(device);
    if (!row) return;
    this.live.send('tile', this.tile(row.id));
    this.pushSummary();
  }

  private summaryTimer: NodeJS.Timeout | null = null;
  /** The summary reads every tile: send it at most once a second, however busy the hall. */
  pushSummary(): void {
    if (this.live.size === 0 || this.summaryTimer) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      if (!this.stopped) this.live.send('summary', this.summary());
    }, 250);
    this.summaryTimer.unref();
  }

  private readonly configs = new Map<string, { sig: string; config: DeviceConfig | null }>();
  /**
   * A device's config, parsed once per change (the wall and the statistics read all 400 of
   * them on every load; validating each every time would cost more than the queries).
   */
  private configOf(d: DeviceRow): DeviceConfig | null {
    const sig = `${d.window}\u0000${d.config_version}\u0000${d.settings}`;
    const hit = this.configs.get(d.id);
    if (hit?.sig === sig) return hit.config;
    let config: DeviceConfig | null = null;
    try {
      config = this.d.registry.config(d);
    } catch (e) {
      this.log.warn({ device: d.id, err: (e as Error).message }, 'device settings do not make a valid config');
    }
    this.configs.set(d.id, { sig, config });
    return config;
  }

  /** Staff id → name, from the windows' configs (who is or was on duty). */
  staffNames(): Map<string, string> {
    const m = new Map<string, string>();
    for (const d of this.d.registry.list()) {
      const s = this.configOf(d)?.staff;
      if (s) m.set(s.id, s.number ? `${s.name}（${s.number}）` : s.name);
    }
    return m;
  }

  /** Window → "12 不动产登记", from the devices' configs. */
  windowNames(): Map<string, string> {
    const m = new Map<string, string>();
    for (const d of this.d.registry.list()) {
      const name = this.configOf(d)?.windowName;
      if (name) m.set(d.window, `${d.window} ${name}`);
    }
    return m;
  }

  tile(id: string, todayCounts?: Map<string, { total: number; bad: number; misuse: number }>): Tile {
    const d = this.d.registry.get(id)!;
    // The hub's view of the device: connected now (the broker's current connection) and its last status.
    const h = this.d.status.health(id);
    const cfg = this.configOf(d);
    const online = h.online;
    const paused = !!cfg?.paused || h.mode === 'paused';
    const last = this.d.db
      .prepare<[string], { level: number; at: number }>('SELECT level, at FROM rating_facts WHERE window = ? ORDER BY at DESC LIMIT 1')
      .get(d.window);
    const day = dayNumber(this.now());
    const today = todayCounts
      ? (todayCounts.get(d.window) ?? { total: 0, bad: 0, misuse: 0 })
      : (() => {
          const c = this.stats.trend(day, day, 'day', 'window', d.window)[0]?.counts;
          return { total: c?.total ?? 0, bad: c?.bad ?? 0, misuse: c?.misuse ?? 0 };
        })();
    return {
      id,
      window: d.window,
      windowName: cfg?.windowName ?? null,
      name: d.name,
      state:
        d.revoked_at !== null
          ? 'revoked'
          : h.reportedState === null && !online
            ? 'never'
            : !online
              ? 'offline'
              : paused
                ? 'paused'
                : 'online',
      online,
      paused,
      mode: h.mode ?? null,
      staff: cfg?.staff ? { id: cfg.staff.id, name: cfg.staff.name, number: cfg.staff.number } : null,
      backlog: h.backlog?.depth ?? null,
      oldestAgeS: h.backlog?.oldestAgeS ?? null,
      faults: h.faults,
      clockSynced: h.clock?.synced ?? null,
      firmware: h.firmware,
      update: deviceUpdateOf(this.d.db, d.id),
      statusAt: h.statusAt,
      lastRating: last ?? null,
      today,
    };
  }

  private todayByWindow(): Map<string, { total: number; bad: number; misuse: number }> {
    const today = dayNumber(this.now());
    return new Map(
      this.stats.byDim('window', today, today).map((r) => [r.key, { total: r.counts.total, bad: r.counts.bad, misuse: r.counts.misuse }]),
    );
  }

  tiles(): Tile[] {
    const today = this.todayByWindow();
    return this.d.registry.list().map((d) => this.tile(d.id, today));
  }

  summary(tiles = this.tiles()): WallSummary {
    const day = dayNumber(this.now());
    const t = this.stats.summary(day, day);
    return {
      devices: tiles.length,
      online: tiles.filter((x) => x.online).length,
      offline: tiles.filter((x) => !x.online && x.state !== 'revoked').length,
      paused: tiles.filter((x) => x.online && x.paused).length,
      today: { total: t.total, bad: t.bad, satisfaction: t.satisfaction },
      orders: this.workOrders.counts(),
      alerts: this.alerts.open().length,
    };
  }
}
