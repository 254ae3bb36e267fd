/**
 * The citizen channel as one hub part: the hall's link secret, the desk that decides what a
 * scanned link may do, and the /citizen/ routes (docs/citizen-channels.md).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../protocol/index.js';
import type { WorkingDayCalendar } from '../calendar/working-days.js';
import type { HubConfig } from '../config.js';
import type { Evaluation } from '../forwarder/evaluation.js';
import type { Registry } from '../registry/registry.js';
import type { SessionBook } from '../sessions/session-book.js';
import type { Db } from '../store/db.js';
import { CitizenDesk } from './desk.js';
import { CitizenKeys } from './keys.js';
import { citizenRoutes, type CitizenPagePlugin } from './routes.js';

export interface CitizenChannelDeps {
  config: HubConfig;
  db: Db;
  registry: Registry;
  sessions: SessionBook;
  calendar: WorkingDayCalendar;
  now: () => number;
  log: Logger;
  onQueued: (e: Evaluation) => void;
}

export class CitizenChannel {
  readonly keys: CitizenKeys;
  readonly desk: CitizenDesk;

  constructor(private readonly d: CitizenChannelDeps) {
    this.keys = CitizenKeys.loadOrCreate(d.config.dataDir, d.config.hall);
    this.desk = new CitizenDesk({
      db: d.db,
      registry: d.registry,
      sessions: d.sessions,
      keys: this.keys,
      calendar: d.calendar,
      period: d.config.citizen.period,
      defaults: { unit: d.config.defaults.unit, count: d.config.defaults.count },
      now: d.now,
      onQueued: d.onQueued,
    });
  }

  /** The config as the device receives it: with its receipt key (never shown on staff pages or the API). */
  withKey(c: DeviceConfig): DeviceConfig {
    return { ...c, receiptKey: this.keys.deviceKey(c.device) };
  }

  async register(api: FastifyInstance, pages: CitizenPagePlugin[] = [], styleHashes: string[] = []): Promise<void> {
    await api.register(citizenRoutes, {
      prefix: '/citizen',
      desk: this.desk,
      config: this.d.config.citizen,
      now: this.d.now,
      log: this.d.log,
      pages,
      styleHashes,
    });
  }
}
