/**
 * The upstream MQTT bridge, for provinces that take data over MQTT. It has the same outbox
 * semantics as HTTP because the forwarder owns the queue: a batch is published (QoS 1) as the
 * profile's request body, and the records count as accepted only when the province's answer
 * for their keys arrives on the reply topic — the same application-level ack the hub gives its
 * devices. A broker's PUBACK only says the broker has the message (and a broker restart can
 * lose it), so PUBACK-as-acceptance is an explicit choice (`replyTopic: null`) for provinces
 * without a reply channel. mqtt.js's own outgoing store is memory: nothing relies on it.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { parseReply, type ItemResult } from '../mapping.js';
import type { SendOutcome } from '../outcome.js';
import type { Profile } from '../profile.js';
import type { Route, Transport } from './types.js';

export interface MqttTransportOptions {
  /** The provincial broker cluster; mqtt.js moves to the next one when a connection fails. */
  urls: string[];
  topic: string;
  /** A topic per message stream (`{hall}` filled in); default: `topic`, told apart by the batch envelope. */
  topics?: Partial<Record<string, string>>;
  /** Where the province answers (profile reply format); null: the broker's PUBACK is acceptance. */
  replyTopic: string | null;
  profile: Profile;
  timeoutMs: number;
  clientId: string;
  username?: string;
  password?: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  reconnectMs?: number;
  log: Logger;
}

interface Waiter {
  /** The reply format of the stream waited for. */
  profile: Profile;
  keys: Set<string>;
  results: Map<string, ItemResult>;
  finish: () => void;
}

export class MqttTransport implements Transport {
  readonly kind = 'mqtt';
  readonly target: string;
  private readonly client: MqttClient;
  private subscribed = false;
  private readonly waiting = new Map<string, Waiter>();

  constructor(private readonly o: MqttTransportOptions) {
    this.target = `${o.urls.join(',')} ${o.topic}`;
    const servers = o.urls.map((u) => {
      const x = new URL(u);
      const protocol = x.protocol.replace(':', '') as 'mqtt' | 'mqtts';
      return { host: x.hostname, port: Number(x.port) || (protocol === 'mqtts' ? 8883 : 1883), protocol };
    });
    const opts: IClientOptions = {
      servers,
      protocol: servers[0]!.protocol,
      clientId: o.clientId,
      clean: true,
      reconnectPeriod: o.reconnectMs ?? 1000,
      connectTimeout: Math.max(1000, o.timeoutMs),
      keepalive: 30,
      resubscribe: false, // subscribed below on every connect, so "subscribed" is known
      queueQoSZero: false,
      username: o.username,
      password: o.password,
      ca: o.ca,
      cert: o.cert,
      key: o.key,
    };
    this.client = mqtt.connect(opts);
    this.client.on('connect', () => {
      this.subscribed = false;
      if (!o.replyTopic) return void (this.subscribed = true);
      this.client.subscribe(o.replyTopic, { qos: 1 }, (err, granted) => {
        if (err || granted?.some((g) => g.qos === 128))
          return o.log.error({ err, topic: o.replyTopic }, 'cannot subscribe to the province reply topic');
        this.subscribed = true;
      });
    });
    this.client.on('close', () => (this.subscribed = false));
    this.client.on('error', (err) => o.log.warn({ err: err.message }, 'provincial broker connection error'));
    this.client.on('message', (t, payload) => {
      if (t !== o.replyTopic) return;
      let json: unknown;
      try {
        json = JSON.parse(payload.toString('utf8'));
      } catch {
        return void o.log.warn({ topic: t }, 'province reply is not JSON; ignored');
      }
      // Replies to different streams may name their keys differently: read the reply with the
      // format of every stream being waited for.
      const formats = new Set<Profile>([o.profile, ...[...this.waiting.values()].map((w) => w.profile)]);
      const results = new Map<string, ItemResult>();
      let error: string | null = null;
      for (const f of formats) {
        const r = parseReply(f, json);
        if (r.ok) for (const [k, v] of r.results) results.set(k, v);
        else error ??= r.error;
      }
      if (results.size === 0 && error) return void o.log.warn({ topic: t, err: error }, 'province reply not understood; ignored');
      for (const [key, result] of results) {
        const w = this.waiting.get(key);
        if (!w) continue; // a late answer to a push already given up on: the resend will be answered again
        w.results.set(key, result);
        if (w.results.size === w.keys.size) w.finish();
      }
    });
  }

  send(body: string | Buffer, keys: string[], signal: AbortSignal, route?: Route): Promise<SendOutcome> {
    if (!this.client.connected || !this.subscribed)
      return Promise.resolve({
        kind: 'failed',
        failure: 'connection',
        message: `not connected to the provincial broker (${this.o.urls.join(', ')})`,
      });
    return new Promise<SendOutcome>((resolve) => {
      const w: Waiter = { profile: route?.profile ?? this.o.profile, keys: new Set(keys), results: new Map(), finish: () => done() };
      let settled = false;
      const timer = setTimeout(() => done(), this.o.timeoutMs);
      const onAbort = () => done('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.o.replyTopic) for (const k of keys) this.waiting.set(k, w);
      const done = (why?: 'aborted' | { error: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        for (const k of keys) if (this.waiting.get(k) === w) this.waiting.delete(k);
        if (why === 'aborted') return resolve({ kind: 'failed', failure: 'aborted', message: 'push aborted' });
        if (why) return resolve({ kind: 'failed', failure: 'connection', message: why.error });
        if (w.results.size > 0) return resolve({ kind: 'answered', results: w.results });
        resolve({ kind: 'failed', failure: 'timeout', message: `no answer from the province within ${this.o.timeoutMs} ms` });
      };
      this.client.publish((route && this.o.topics?.[route.stream]) || this.o.topic, body, { qos: 1 }, (err) => {
        if (err) return done({ error: `publish failed: ${err.message}` });
        if (!this.o.replyTopic) {
          for (const k of keys) w.results.set(k, { status: 'accepted' });
          done();
        }
      });
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => {});
  }
}
