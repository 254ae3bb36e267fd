/**
 * The device agent's composition root: wires buttons, display, rating flow, outbox and hub
 * link, each with its own lifecycle. Everything hardware-specific arrives as a driver.
 */
import { FIRMWARE_VERSION } from '../common/version.js';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  checkRecordFits,
  defaultDeviceConfig,
  DeviceConfigSchema,
  OversizedMessageError,
  PROTOCOL_VERSION,
  signRecord,
  type DeviceConfig,
  type DeviceKeys,
  type RatingRecord,
  type SessionMessage,
  type Status,
} from '../protocol/index.js';
import type { ButtonDriver } from './buttons/types.js';
import type { DisplayDriver, Frame } from './display/types.js';
import { CONFIG_CACHE_FILE, loadEnrolment, type Enrolment } from './enrolment/enrolment.js';
import { RatingFlow, type Effect, type FlowOptions, type RecordDraft } from './flow/rating-flow.js';
import { loadOrCreateKeys } from './identity/keys.js';
import { Link, type LinkOptions } from './link/link.js';
import { Outbox, OUTBOX_FILE, OutboxFullError, OutboxStorageError, OutboxStorageFullError, type OutboxOptions } from './outbox/outbox.js';
import { readJsonFile, writeFileAtomic } from '../common/atomic-file.js';
import { systemClock, type Clock } from './util/clock.js';
import { Updater, type UpdaterOptions } from './update/updater.js';

/** The firmware string devices report: the running release's version (package.json of the release). */
export { FIRMWARE_VERSION };
export { OUTBOX_FILE };

export interface AgentOptions {
  dataDir: string;
  buttons: ButtonDriver;
  display: DisplayDriver;
  log: Logger;
  clock?: Clock;
  /** Whether the wall clock is known to be right (NTP synced). */
  clockSynced?: () => boolean;
  /** Undelivered records the outbox holds at most (also settable in `outbox`). */
  outboxCapacity?: number;
  outbox?: OutboxOptions;
  link?: Partial<Pick<LinkOptions, 'maxInFlight' | 'ackTimeoutMs' | 'statusIntervalMs' | 'backoff'>>;
  flow?: FlowOptions;
  /** How often the flow's timers are checked. */
  tickMs?: number;
  /** While out of service, how often to check whether the outbox can take records again. */
  recoveryCheckMs?: number;
  /** Fleet updates (device/update/): absent, the agent never updates itself. */
  update?: Omit<UpdaterOptions, 'dataDir' | 'hub' | 'log' | 'onChange'>;
}

/** Faults the agent itself raises when the outbox cannot take a record. */
export const OUTBOX_FULL = 'outbox-full';
export const STORAGE_FULL = 'disk-full';
export const STORAGE_ERROR = 'storage-error';
const STORAGE_FAULTS = [OUTBOX_FULL, STORAGE_FULL, STORAGE_ERROR];
/**
 * The size contract (issue 16): a session whose record could exceed the protocol's limit is not
 * prompted for; a record that would exceed it is not written (nor thanked); records the hub (or
 * this device) refused for good stay in the outbox. Each is a fault the hub turns into an alarm.
 */
export const SESSION_REFUSED = 'session-refused';
export const RECORD_TOO_LARGE = 'record-too-large';
export const RECORDS_REFUSED = 'records-refused';

const FLAG_COUNTERS: Record<string, string> = {
  'too-soon': 'flaggedTooSoon',
  'no-session': 'flaggedNoSession',
  'no-reason': 'flaggedNoReason',
  'walk-up': 'flaggedWalkUp',
  repeated: 'flaggedRepeated',
};

export interface AgentEvents {
  /** A record is durably in the outbox (a rating's thank-you is shown right after). */
  stored: [RatingRecord];
  frame: [Frame];
}

/** What Agent.open reads and opens from the data directory. */
export interface AgentStores {
  enrolment: Enrolment;
  keys: DeviceKeys;
  /** The last config the hub sent (cached), or the defaults. */
  config: DeviceConfig;
  outbox: Outbox;
}

/** The last config the hub sent, cached so the device boots and rates with the hub unreachable; else the defaults. */
function loadCachedConfig(dataDir: string, e: Enrolment, log: Logger): DeviceConfig {
  let raw: unknown = null;
  try {
    raw = readJsonFile(join(dataDir, CONFIG_CACHE_FILE));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cached config unreadable; using defaults until the hub sends one');
  }
  const cached = DeviceConfigSchema.safeParse(raw);
  return cached.success ? cached.data : defaultDeviceConfig(e.hall, e.device, e.window);
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly enrolment: Enrolment;
  readonly outbox: Outbox;
  readonly link: Link;
  readonly updater: Updater | null;
  readonly bootId = randomUUID();
  readonly counters: Record<string, number> = {};
  readonly faults = new Set<string>();
  private readonly keys: DeviceKeys;
  private readonly clock: Clock;
  private readonly startedMono: number;
  private config: DeviceConfig;
  private flow: RatingFlow;
  private ticker: NodeJS.Timeout | null = null;
  private lastRecoveryCheck = 0;
  private readonly onPress = (button: number) => {
    this.count('presses');
    this.apply(this.flow.press(button, this.clock.mono()));
  };
  private readonly onFault = (f: string, detail?: string) => {
    if (this.faults.has(f)) return;
    this.o.log.warn({ fault: f, detail }, 'fault');
    this.faults.add(f);
    this.link.publishStatus();
  };
  private readonly onRecover = (f: string) => {
    if (!this.faults.delete(f)) return;
    this.o.log.info({ fault: f }, 'fault cleared');
    this.link.publishStatus();
  };
  private readonly onCount = (c: string) => this.count(c);

  /**
   * Reads what the device keeps in its data directory — enrolment, keys, the last config —
   * and opens its outbox; then builds the agent on them. Nothing talks to the hub or drives the
   * hardware until start().
   */
  static open(o: AgentOptions): Agent {
    const enrolment = loadEnrolment(o.dataDir);
    if (!enrolment) throw new Error(`device in ${o.dataDir} is not enrolled; run "haochaping device enrol" first`);
    const keys = loadOrCreateKeys(o.dataDir);
    const config = loadCachedConfig(o.dataDir, enrolment, o.log);
    const outbox = new Outbox(join(o.dataDir, OUTBOX_FILE), { ...o.outbox, ...(o.outboxCapacity ? { capacity: o.outboxCapacity } : {}) });
    return new Agent(o, { enrolment, keys, config, outbox });
  }

  /** Builds the agent on what open() read; opens and reads nothing itself. */
  constructor(
    private readonly o: AgentOptions,
    opened: AgentStores,
  ) {
    super();
    this.enrolment = opened.enrolment;
    this.clock = o.clock ?? systemClock;
    this.startedMono = this.clock.mono();
    this.keys = opened.keys;
    this.config = opened.config;
    this.flow = new RatingFlow(this.config, o.flow);
    this.outbox = opened.outbox;
    const enrolment = this.enrolment;
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
    this.link.on('session', (m) => this.onSession(m));
    this.link.on('invalid', () => this.count('invalidFromHub'));
    this.link.on('rejected', (n) => {
      this.counters.recordsRefused = (this.counters.recordsRefused ?? 0) + n;
      this.link.publishStatus(); // the records-refused fault comes from the outbox (status())
    });
    this.link.on('acked', () => this.tryBackInService());
    this.updater = o.update
      ? new Updater({
          ...o.update,
          dataDir: o.dataDir,
          hub: { url: enrolment.hubUrl, username: enrolment.username, password: enrolment.password, ca: enrolment.ca },
          log: o.log.child({ part: 'update' }),
          onChange: () => this.link.publishStatus(),
        })
      : null;
    // Connected to the hub after the buttons and display started, outbox open: a new release has proven itself.
    this.link.on('connected', () => {
      if (this.healthy()) this.updater?.healthy();
    });
  }

  private onSession(m: SessionMessage): void {
    const mono = this.clock.mono();
    if (m.op === 'cancel') return this.apply(this.flow.cancelSession(m.sessionId));
    // The same check the hub made before sending it: prompt only for what can be rated and sent.
    const c = this.config;
    const tooBig = checkRecordFits({
      hall: this.enrolment.hall,
      device: this.enrolment.device,
      window: c.window,
      staffId: m.staffId,
      catalogue: c.catalogue.version,
      session: m.session,
    });
    if (tooBig) {
      this.count('sessionsRefused');
      this.o.log.error({ session: m.session.id, err: tooBig.message }, 'refused a session whose rating could not be sent: not prompting');
      this.faults.delete(SESSION_REFUSED); // raised again: each refusal is reported
      return this.onFault(SESSION_REFUSED, m.session.id);
    }
    this.onRecover(SESSION_REFUSED);
    this.apply(this.flow.openSession(m.session, m.staffId, mono));
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
    this.checkButtonCount();
    this.apply(this.flow.setConfig(c, this.clock.mono()));
    this.updater?.setTarget(c.release);
  }

  /** A 5-button config on a 3-button keypad (or the other way round) is a fault hall IT must see. */
  private checkButtonCount(): void {
    const have = this.o.buttons.count;
    const want = this.config.buttons.length;
    if (have === want) return this.onRecover('button-count-mismatch');
    this.o.log.error({ driver: have, config: want }, `the button driver reads ${have} buttons but the config maps ${want}`);
    this.onFault('button-count-mismatch', `driver ${have}, config ${want}`);
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
    let failed: string | null = null;
    for (const e of effects) {
      if (e.type === 'count') this.count(e.counter);
      else if (e.type === 'show') {
        if (!failed) this.show(e.frame); // after a failed write, out-of-service is what shows
      } else if (!failed) failed = this.write(e.draft, e.thanks);
      else this.count('recordsNotWritten');
    }
    if (failed) {
      this.apply(this.flow.outOfService(failed));
      this.link.publishStatus();
    }
  }

  /** Writes the record durably, then shows the thank-you. Returns the fault if it could not. */
  private write(draft: RecordDraft, thanks: Frame | null): string | null {
    let record: RatingRecord;
    try {
      record = this.outbox.append((link) => this.buildRecord(draft, link));
    } catch (e) {
      const fault =
        e instanceof OutboxFullError
          ? OUTBOX_FULL
          : e instanceof OutboxStorageFullError
            ? STORAGE_FULL
            : e instanceof OutboxStorageError
              ? STORAGE_ERROR
              : e instanceof OversizedMessageError
                ? RECORD_TOO_LARGE
                : null;
      if (!fault) throw e;
      // The citizen is not thanked for a record that is not on disk.
      this.count('recordsNotWritten');
      if (fault === OUTBOX_FULL) this.count('refusedOutboxFull');
      else if (fault === STORAGE_FULL) this.count('refusedDiskFull');
      else if (fault === RECORD_TOO_LARGE) this.count('refusedOversized');
      this.faults.add(fault);
      this.o.log.error(
        { fault, err: (e as Error).message, kind: draft.kind, level: draft.level },
        'record not written: out of service until the outbox can take records again',
      );
      return fault;
    }
    this.faults.delete(RECORD_TOO_LARGE); // the next record that fits ends that fault
    this.count(record.kind === 'rating' ? 'ratings' : 'notRated');
    for (const f of record.flags) this.count(FLAG_COUNTERS[f] ?? `flagged-${f}`);
    this.emit('stored', record);
    if (thanks) this.show(thanks); // only now: the record is on disk
    this.link.pump();
    return null;
  }

  /** Back in service once the outbox can really take a record again (room, and a disk write works). */
  private tryBackInService(): void {
    if (this.flow.state !== 'out-of-service') return;
    this.lastRecoveryCheck = this.clock.mono();
    const r = this.outbox.canAccept();
    if (!r.ok) return;
    for (const f of STORAGE_FAULTS) this.faults.delete(f);
    this.o.log.info('outbox takes records again: back in service');
    this.apply(this.flow.backInService());
    this.link.publishStatus();
  }

  private onTick(): void {
    const mono = this.clock.mono();
    this.apply(this.flow.tick(mono));
    if (this.flow.state === 'out-of-service' && mono - this.lastRecoveryCheck >= (this.o.recoveryCheckMs ?? 30_000))
      this.tryBackInService();
  }

  private buildRecord(draft: RecordDraft, link: { seq: number; prev: string }): RatingRecord {
    const e = this.enrolment;
    return signRecord(
      {
        v: PROTOCOL_VERSION,
        id: draft.id,
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

  /** For the systemd watchdog: the event loop runs (we are here) and the outbox answers. */
  healthy(): boolean {
    try {
      this.outbox.depth();
      return true;
    } catch {
      return false;
    }
  }

  status(): Omit<Status, 'v' | 'state'> {
    const s = this.outbox.stats();
    const now = this.clock.now();
    // Age from the monotonic clock when the record is from this boot; across a reboot only the
    // wall clock is left (and may be off until NTP synced).
    const o = s.oldest;
    const ageMs = o === null ? null : o.bootId === this.bootId ? this.clock.mono() - o.mono : now - o.at;
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
        oldestAgeS: ageMs === null ? null : Math.max(0, Math.round(ageMs / 1000)),
      },
      counters: { ...this.counters },
      // Refused records stay in the outbox (never deleted): the fault stands while they do.
      faults: s.rejected > 0 ? [...this.faults, RECORDS_REFUSED] : [...this.faults],
      mode: this.flow.state,
      ...(this.updater?.report ? { update: this.updater.report } : {}),
    };
  }

  async start(): Promise<void> {
    await this.o.display.start();
    this.o.display.on?.('fault', this.onFault);
    this.o.display.on?.('recover', this.onRecover);
    this.o.buttons.on('press', this.onPress);
    this.o.buttons.on('fault', this.onFault);
    this.o.buttons.on('recover', this.onRecover);
    this.o.buttons.on('count', this.onCount);
    this.checkButtonCount();
    await this.o.buttons.start();
    // The first screen only once the buttons are read: whoever sees the prompt can press.
    this.show(this.flow.frame());
    this.updater?.start(); // before the link: the first status says where an update stands
    this.link.start();
    this.ticker = setInterval(() => this.onTick(), this.o.tickMs ?? 250);
    this.updater?.setTarget(this.config.release);
  }

  /** Stops taking presses, says offline, closes the outbox. */
  async stop(): Promise<void> {
    this.o.buttons.off('press', this.onPress);
    this.o.buttons.off('fault', this.onFault);
    this.o.buttons.off('recover', this.onRecover);
    this.o.buttons.off('count', this.onCount);
    if (this.ticker) clearInterval(this.ticker);
    this.updater?.stop();
    await this.o.buttons.stop();
    await this.link.stop();
    await this.o.display.stop();
    this.outbox.close();
  }
}
