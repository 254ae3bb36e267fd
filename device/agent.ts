/**
 * The device agent's composition root: wires buttons, display, rating flow, outbox and hub
 * link, each with its own lifecycle. Everything hardware-specific arrives as a driver.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  defaultDeviceConfig,
  DeviceConfigSchema,
  newRecordId,
  PROTOCOL_VERSION,
  signRecord,
  type DeviceConfig,
  type DeviceKeys,
  type RatingRecord,
  type Status,
} from '../protocol/index.js';
import type { ButtonDriver } from './buttons/types.js';
import type { DisplayDriver, Frame } from './display/types.js';
import { CONFIG_CACHE_FILE, loadEnrolment, type Enrolment } from './enrolment/enrolment.js';
import { RatingFlow, type Effect, type RecordDraft } from './flow/rating-flow.js';
import { loadOrCreateKeys } from './identity/keys.js';
import { Link, type LinkOptions } from './link/link.js';
import { Outbox, OutboxFullError } from './outbox/outbox.js';
import { readJsonFile, writeFileAtomic } from './storage/atomic-file.js';
import { systemClock, type Clock } from './util/clock.js';

/** SQLite could not write: the disk (SD card, quota) is full or failing. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

export const FIRMWARE_VERSION = 'haochaping-device/0.1.0';
export const OUTBOX_FILE = 'outbox.db';

export interface AgentOptions {
  dataDir: string;
  buttons: ButtonDriver;
  display: DisplayDriver;
  log: Logger;
  clock?: Clock;
  /** Whether the wall clock is known to be right (NTP synced). */
  clockSynced?: () => boolean;
  outboxCapacity?: number;
  link?: Partial<Pick<LinkOptions, 'maxInFlight' | 'ackTimeoutMs' | 'statusIntervalMs' | 'backoff'>>;
  /** How often the flow's timers are checked. */
  tickMs?: number;
}

export interface AgentEvents {
  /** A record is durably in the outbox (a rating's thank-you is shown right after). */
  stored: [RatingRecord];
  frame: [Frame];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly enrolment: Enrolment;
  readonly outbox: Outbox;
  readonly link: Link;
  readonly bootId = randomUUID();
  readonly counters: Record<string, number> = {};
  readonly faults = new Set<string>();
  private readonly keys: DeviceKeys;
  private readonly clock: Clock;
  private readonly startedMono: number;
  private config: DeviceConfig;
  private flow: RatingFlow;
  private ticker: NodeJS.Timeout | null = null;
  private readonly onPress = (button: number) => this.apply(this.flow.press(button, this.clock.mono()));

  constructor(private readonly o: AgentOptions) {
    super();
    const enrolment = loadEnrolment(o.dataDir);
    if (!enrolment) throw new Error(`device in ${o.dataDir} is not enrolled; run "haochaping device enrol" first`);
    this.enrolment = enrolment;
    this.clock = o.clock ?? systemClock;
    this.startedMono = this.clock.mono();
    this.keys = loadOrCreateKeys(o.dataDir);
    this.config = this.loadCachedConfig();
    this.flow = new RatingFlow(this.config);
    this.outbox = new Outbox(join(o.dataDir, OUTBOX_FILE), o.outboxCapacity);
    this.link = new Link({
      url: enrolment.mqttUrl,
      hall: enrolment.hall,
      device: enrolment.device,
      username: enrolment.username,
      password: enrolment.password,
      outbox: this.outbox,
      log: o.log.child({ part: 'link' }),
      status: () => this.status(),
      ...(enrolment.ca ? { tls: { ca: enrolment.ca } } : {}),
      ...o.link,
    });
    this.link.on('config', (c) => this.onConfig(c));
    this.link.on('session', (m) => {
      const mono = this.clock.mono();
      this.apply(m.op === 'open' ? this.flow.openSession(m.session, m.staffId, mono) : this.flow.cancelSession(m.sessionId));
    });
    this.link.on('invalid', () => this.count('invalidFromHub'));
  }

  private loadCachedConfig(): DeviceConfig {
    const e = this.enrolment;
    const cached = DeviceConfigSchema.safeParse(readJsonFile(join(this.o.dataDir, CONFIG_CACHE_FILE)));
    return cached.success ? cached.data : defaultDeviceConfig(e.hall, e.device, e.window);
  }

  /** Cached so the device boots and rates with the hub unreachable. */
  private onConfig(c: DeviceConfig): void {
    if (c.hall !== this.enrolment.hall || c.device !== this.enrolment.device) {
      this.o.log.warn({ hall: c.hall, device: c.device }, 'ignored a config for another device');
      return this.count('invalidFromHub');
    }
    if (c.version === this.config.version && JSON.stringify(c) === JSON.stringify(this.config)) return;
    writeFileAtomic(join(this.o.dataDir, CONFIG_CACHE_FILE), JSON.stringify(c), 0o600);
    this.config = c;
    this.o.log.info({ version: c.version }, 'config applied');
    this.apply(this.flow.setConfig(c));
  }

  get currentConfig(): DeviceConfig {
    return this.config;
  }

  private count(counter: string): void {
    this.counters[counter] = (this.counters[counter] ?? 0) + 1;
  }

  private show(frame: Frame): void {
    this.o.display.show(frame);
    this.emit('frame', frame);
  }

  private apply(effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === 'show') this.show(e.frame);
      else if (e.type === 'count') this.count(e.counter);
      else this.write(e.draft, e.thanks);
    }
  }

  private write(draft: RecordDraft, thanks: Frame | null): void {
    let record: RatingRecord;
    try {
      record = this.outbox.append((link) => this.buildRecord(draft, link));
    } catch (e) {
      // Not written means no thank-you: the citizen sees out-of-service instead. A full disk
      // (SQLite FULL/IOERR) is the same promise as a full outbox; the next press tries again.
      const fault = e instanceof OutboxFullError ? 'outbox-full' : isDiskFull(e) ? 'disk-full' : null;
      if (fault) {
        this.faults.add(fault);
        this.count(fault === 'outbox-full' ? 'refusedOutboxFull' : 'refusedDiskFull');
        this.o.log.error({ fault, err: (e as Error).message }, 'rating not written: out of service until there is room');
        this.show({ screen: 'out-of-service', text: '设备暂停使用', fault });
        this.link.publishStatus();
        return;
      }
      throw e;
    }
    this.faults.delete('outbox-full');
    this.faults.delete('disk-full');
    this.count(record.kind === 'rating' ? 'ratings' : 'notRated');
    this.emit('stored', record);
    if (thanks) this.show(thanks); // only now: the record is on disk
    this.link.pump();
  }

  private buildRecord(draft: RecordDraft, link: { seq: number; prev: string }): RatingRecord {
    const e = this.enrolment;
    return signRecord(
      {
        v: PROTOCOL_VERSION,
        id: newRecordId(),
        hall: e.hall,
        device: e.device,
        window: this.config.window,
        staffId: draft.staffId,
        seq: link.seq,
        kind: draft.kind,
        level: draft.level,
        reasons: draft.reasons,
        catalogue: this.config.catalogue.version,
        session: draft.session,
        at: this.clock.now(),
        clockSynced: this.o.clockSynced?.() ?? false,
        bootId: this.bootId,
        mono: Math.max(0, Math.round(this.clock.mono())),
        flags: draft.flags,
        prev: link.prev,
      },
      this.keys.privateKey,
    );
  }

  status(): Omit<Status, 'v' | 'state'> {
    const s = this.outbox.stats();
    const now = this.clock.now();
    return {
      firmware: FIRMWARE_VERSION,
      bootId: this.bootId,
      uptimeS: Math.max(0, Math.round((this.clock.mono() - this.startedMono) / 1000)),
      clockSynced: this.o.clockSynced?.() ?? false,
      at: Math.max(0, now),
      outbox: {
        depth: s.depth,
        capacity: s.capacity,
        lastSeq: s.lastSeq,
        oldestAgeS: s.oldestCreatedAt === null ? null : Math.max(0, Math.round((now - s.oldestCreatedAt) / 1000)),
      },
      counters: { ...this.counters },
      faults: [...this.faults],
      mode: this.flow.state,
    };
  }

  async start(): Promise<void> {
    await this.o.display.start();
    this.show(this.flow.frame());
    this.o.buttons.on('press', this.onPress);
    this.o.buttons.on('fault', (f) => {
      this.faults.add(f);
      this.link.publishStatus();
    });
    this.o.buttons.on('recover', (f) => {
      this.faults.delete(f);
      this.link.publishStatus();
    });
    await this.o.buttons.start();
    this.link.start();
    this.ticker = setInterval(() => this.apply(this.flow.tick(this.clock.mono())), this.o.tickMs ?? 250);
  }

  /** Stops taking presses, says offline, closes the outbox. */
  async stop(): Promise<void> {
    this.o.buttons.off('press', this.onPress);
    if (this.ticker) clearInterval(this.ticker);
    await this.o.buttons.stop();
    await this.link.stop();
    await this.o.display.stop();
    this.outbox.close();
  }
}
