import { EventEmitter } from 'node:events';
import { connectMqtt, type MqttClient } from './mqtt-connect.js';
import type { Logger } from 'pino';
import { decode, encode, MAX_BYTES, topic, type DeviceConfig, type SessionMessage, type Status } from '../../protocol/index.js';
import type { Outbox } from '../outbox/outbox.js';
import { Backoff } from '../../common/backoff.js';

export interface LinkOptions {
  url: string;
  hall: string;
  device: string;
  username: string;
  password: string;
  outbox: Outbox;
  log: Logger;
  /** The current status, published retained on connect, on request and periodically. */
  status: () => Omit<Status, 'v' | 'state'>;
  /** Records published but not yet acknowledged, at most. */
  maxInFlight?: number;
  /**
   * With no ack this long after publishing, resend from the oldest undelivered record. Doubled
   * after each timeout (up to maxAckTimeoutMs), halved again once acks come back in under a
   * quarter of it: a hub that is slow (a whole hall's backlog after an outage) is not sent every
   * record twice.
   */
  ackTimeoutMs?: number;
  /** The most the ack timeout grows to after timeouts (default 8 × ackTimeoutMs). */
  maxAckTimeoutMs?: number;
  statusIntervalMs?: number;
  backoff?: Backoff;
  /** mqtt.js options for TLS (ca, cert, rejectUnauthorized). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
}

export interface LinkEvents {
  config: [DeviceConfig];
  session: [SessionMessage];
  acked: [count: number];
  rejected: [count: number];
  connected: [];
  disconnected: [];
  /** A message from the hub that failed to decode; counted, logged, ignored. */
  invalid: [kind: string, reason: string];
}

/**
 * The device's MQTT link to the hub. The outbox owns delivery: the link publishes undelivered
 * records in sequence order, forgets nothing until the hub's application-level `ack` (sent
 * after the hub committed) marks them in the outbox, and after any reconnect or ack timeout
 * it starts again from the oldest undelivered record. mqtt.js's in-memory store and the
 * broker's PUBACK are never taken as delivery.
 */
export class Link extends EventEmitter<LinkEvents> {
  private client: MqttClient | null = null;
  private readonly inFlight = new Map<number, number>(); // seq → sent at (ms)
  private highestSent = 0;
  private ready = false;
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private tick: NodeJS.Timeout | null = null;
  private lastStatusAt = 0;
  private readonly backoff: Backoff;
  private readonly maxInFlight: number;
  private readonly ackTimeoutMs: number;
  private readonly maxAckTimeoutMs: number;
  /** The ack timeout now: ackTimeoutMs, or longer after timeouts. */
  private timeoutMs: number;
  /**
   * Records up to this seq were sent again after a timeout: an ack for one of them may answer
   * its first copy, so it says nothing about how quick the hub is now (Karn's rule).
   */
  private resentUpTo = 0;
  private readonly statusIntervalMs: number;

  constructor(private readonly o: LinkOptions) {
    super();
    this.backoff = o.backoff ?? new Backoff();
    this.maxInFlight = o.maxInFlight ?? 64;
    this.ackTimeoutMs = o.ackTimeoutMs ?? 10_000;
    this.maxAckTimeoutMs = Math.max(this.ackTimeoutMs, o.maxAckTimeoutMs ?? 8 * this.ackTimeoutMs);
    this.timeoutMs = this.ackTimeoutMs;
    this.statusIntervalMs = o.statusIntervalMs ?? 30_000;
  }

  get connected(): boolean {
    return this.ready;
  }

  private t(kind: 'rating' | 'ack' | 'status' | 'config' | 'session'): string {
    return topic(this.o.hall, this.o.device, kind);
  }

  private statusPayload(state: 'online' | 'offline'): Buffer {
    return encode('status', { v: 1, state, ...this.o.status() });
  }

  start(): void {
    this.stopping = false;
    this.connect();
    this.tick = setInterval(() => this.onTick(), 1000);
    this.tick.unref();
  }

  /**
   * Each attempt is a fresh mqtt.js client: nothing of a dead connection's in-memory state
   * (its outgoing store, pending callbacks) is carried over — the outbox is the only memory.
   */
  private connect(): void {
    const c = connectMqtt(
      this.o.url,
      {
        clientId: this.o.device,
        username: this.o.username,
        password: this.o.password,
        clean: true,
        keepalive: 30,
        connectTimeout: 10_000,
        reconnectPeriod: 0, // we reconnect ourselves, with backoff and jitter
        queueQoSZero: false,
        // mqtt-packet's default pre-builds 65,536 two-byte Buffers for packet ids (~6 MiB of heap on
        // a device that sends a few records a minute): encode each id when written instead.
        writeCache: false,
        will: { topic: this.t('status'), payload: this.statusPayload('offline'), qos: 1, retain: true },
      },
      this.o.tls,
    );
    this.client = c;
    c.on('connect', () => this.onConnect(c));
    c.on('message', (t, payload) => this.onMessage(t, payload));
    c.on('close', () => {
      if (c === this.client) this.onClose();
    });
    c.on('error', (e) => this.o.log.warn({ err: e.message }, 'hub link error'));
  }

  private onConnect(c: MqttClient): void {
    this.backoff.reset();
    c.subscribe([this.t('ack'), this.t('config'), this.t('session')], { qos: 1 }, (e) => {
      if (e || c !== this.client) {
        if (e) this.o.log.warn({ err: e.message }, 'subscribe failed; reconnecting');
        c.end(true);
        return;
      }
      this.ready = true;
      this.o.log.info('connected to hub');
      this.emit('connected');
      this.publishStatus();
      this.pump();
    });
  }

  private onClose(): void {
    const wasReady = this.ready;
    this.ready = false;
    this.inFlight.clear();
    // Sent again on the next connection: an ack for one of them may answer its first copy.
    this.resentUpTo = Math.max(this.resentUpTo, this.highestSent);
    this.highestSent = 0;
    if (wasReady) {
      this.o.log.warn('hub link lost');
      this.emit('disconnected');
    }
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.backoff.next();
    const dead = this.client;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      dead?.end(true);
      if (!this.stopping) this.connect();
    }, delay);
  }

  private onMessage(t: string, payload: Buffer): void {
    if (t === this.t('ack')) {
      const m = decode('ack', payload);
      if (!m.ok) return this.invalid('ack', m.error.message);
      let acked: number;
      let rejected: number;
      try {
        const back = m.value.head ? this.o.outbox.rewindAfter(m.value.head.seq) : 0;
        if (back) {
          this.o.log.warn(
            { hubHead: m.value.head!.seq, resending: back },
            'the hub holds fewer of our records than it acknowledged (restored from a backup?); sending them again',
          );
          this.inFlight.clear();
          this.resentUpTo = Math.max(this.resentUpTo, this.highestSent);
          this.highestSent = 0;
        }
        acked = this.o.outbox.markAcked(m.value.acks);
        rejected = m.value.rejects.length ? this.o.outbox.markRejected(m.value.rejects) : 0;
      } catch (e) {
        // E.g. the disk is full: the records stay pending and in flight; after the ack
        // timeout they are sent again and the hub acknowledges them again.
        this.o.log.error({ err: (e as Error).message }, 'could not mark acknowledged records; will resend');
        return;
      }
      const now = Date.now();
      let quick = false;
      for (const a of m.value.acks) {
        const sentAt = this.inFlight.get(a.seq);
        if (sentAt !== undefined && a.seq > this.resentUpTo && now - sentAt < this.timeoutMs / 4) quick = true;
        this.inFlight.delete(a.seq);
      }
      // The hub answers quickly again: the timeout comes back down, a step per ack message.
      if (quick) this.timeoutMs = Math.max(this.ackTimeoutMs, this.timeoutMs / 2);
      for (const r of m.value.rejects) this.inFlight.delete(r.seq);
      if (rejected) {
        this.o.log.error({ rejects: m.value.rejects }, 'hub refused records; they stay in the outbox');
        this.emit('rejected', rejected);
      }
      if (acked) this.emit('acked', acked);
      this.pump();
    } else if (t === this.t('config')) {
      const m = decode('config', payload);
      if (!m.ok) return this.invalid('config', m.error.message);
      this.emit('config', m.value);
    } else if (t === this.t('session')) {
      const m = decode('session', payload);
      if (!m.ok) return this.invalid('session', m.error.message);
      this.emit('session', m.value);
    }
  }

  private invalid(kind: string, reason: string): void {
    this.o.log.warn({ kind, reason }, 'ignored an invalid message from the hub');
    this.emit('invalid', kind, reason);
  }

  private onTick(): void {
    if (!this.ready) return;
    const now = Date.now();
    for (const sentAt of this.inFlight.values()) {
      if (now - sentAt > this.timeoutMs) {
        // Go back: the hub deduplicates by record id, so resending is safe. The connection is up,
        // so the hub most likely has them and is slow: wait longer before the next resend.
        this.timeoutMs = Math.min(2 * this.timeoutMs, this.maxAckTimeoutMs);
        this.o.log.warn(
          { inFlight: this.inFlight.size, waitedMs: now - sentAt, nextTimeoutMs: this.timeoutMs },
          'no ack in time; resending from the oldest undelivered record',
        );
        this.resentUpTo = Math.max(this.resentUpTo, this.highestSent);
        this.inFlight.clear();
        this.highestSent = 0;
        break;
      }
    }
    if (now - this.lastStatusAt >= this.statusIntervalMs) this.publishStatus();
    this.pump();
  }

  /** Publishes what fits in the in-flight window. Call after appending to the outbox. */
  pump(): void {
    const c = this.client;
    if (!this.ready || !c) return;
    const room = this.maxInFlight - this.inFlight.size;
    if (room <= 0) return;
    const records = this.o.outbox.pendingWire(room, this.highestSent);
    const now = Date.now();
    for (const r of records) {
      const payload = r.body; // the record's JSON as committed
      if (Buffer.byteLength(payload) > MAX_BYTES.rating) {
        // The broker would drop it on every resend (e.g. made by an older release): refuse it
        // here as the hub would, keep it, and go on with the next record.
        this.highestSent = r.seq;
        this.refuseLocally(r.seq, r.id, Buffer.byteLength(payload));
        continue;
      }
      c.publish(this.t('rating'), payload, { qos: 1 });
      this.inFlight.set(r.seq, now);
      this.highestSent = r.seq;
    }
  }

  private refuseLocally(seq: number, id: string, bytes: number): void {
    let n = 0;
    try {
      n = this.o.outbox.markRejected([{ seq, id, reason: 'oversized' }]);
    } catch (e) {
      this.o.log.error({ err: (e as Error).message, seq }, 'could not mark an oversized record refused');
      return;
    }
    this.o.log.error(
      { seq, id, bytes, limit: MAX_BYTES.rating },
      'record is larger than the protocol allows: not sent, kept in the outbox as refused',
    );
    if (n) this.emit('rejected', n);
  }

  publishStatus(): void {
    const c = this.client;
    if (!this.ready || !c) return;
    this.lastStatusAt = Date.now();
    c.publish(this.t('status'), this.statusPayload('online'), { qos: 1, retain: true });
  }

  /** Stops cleanly: says offline (retained), then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.tick) clearInterval(this.tick);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const c = this.client;
    this.client = null;
    if (!c) return;
    if (this.ready) {
      const said = new Promise<void>((res) =>
        c.publish(this.t('status'), this.statusPayload('offline'), { qos: 1, retain: true }, () => res()),
      );
      await Promise.race([said, new Promise((res) => setTimeout(res, 2000).unref())]);
    }
    this.ready = false;
    // A graceful end waits for mqtt.js's in-flight PUBACKs, which may never come on a dead
    // connection; the outbox keeps anything unacknowledged, so give it a second, then force.
    const ended = c.endAsync(false).then(
      () => true,
      () => true,
    );
    if (!(await Promise.race([ended, new Promise<boolean>((res) => setTimeout(res, 1000, false).unref())]))) await c.endAsync(true);
  }

  /** Drops the connection at once, as a pulled cable would (no DISCONNECT, the will fires). */
  sever(): void {
    this.client?.stream?.destroy();
  }
}
