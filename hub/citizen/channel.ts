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
import { BoardError, boardPdf, boardPng, boardTarget } from './board.js';
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

  /** Where a window's QR board leads (citizen.board.target). Throws BoardError with what to configure. */
  boardUrl(window: string): string {
    const p = this.d.config.province;
    const device = this.d.registry.atWindow(window)[0];
    return boardTarget({
      target: this.d.config.citizen.board.target,
      window,
      areaCode: p?.areaCode ?? null,
      deptCode: p?.deptCodeByWindow[window] ?? p?.deptCode ?? null,
      // The address the window's own evaluator puts in its QR codes (its setting, else the hall's).
      citizenBase: (device ? this.d.registry.config(device).feedbackUrl : null) ?? this.d.registry.hallSettings().feedbackUrl ?? null,
    });
  }

  /** A window's printable board (A5): a 300 dpi PNG or a one-page PDF. */
  async board(window: string, format: 'png' | 'pdf'): Promise<{ body: Buffer; contentType: string; url: string }> {
    const devices = this.d.registry.atWindow(window);
    if (!devices.length && !this.d.registry.list().some((x) => x.window === window))
      throw new BoardError(`no device is registered at window ${window}`);
    const windowName = devices.length ? this.d.registry.config(devices[0]!).windowName : null;
    const url = this.boardUrl(window);
    const content = { hallName: this.d.config.web.hallName ?? this.d.config.hall, window, windowName, url };
    return format === 'png'
      ? { body: await boardPng(content), contentType: 'image/png', url }
      : { body: await boardPdf(content), contentType: 'application/pdf', url };
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
