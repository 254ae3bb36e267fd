import type { AedesOptions, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { MAX_BYTES } from '../../../protocol/index.js';
import { checkPublish } from '../acl.js';
import type { Connections } from '../connections.js';
import { FifoRelease, type RateLimiter } from '../rate-limit.js';
import type { OnDenied } from './denials.js';

/**
 * Where refused publishes go. MQTT 3.1.1 cannot tell a client that a publish was refused
 * (MQTT-3.3.5-2): the broker either acknowledges and drops it, or closes the connection.
 * Closing would let one wrong topic cut a device off, so the hub acknowledges and drops:
 * the packet is re-addressed to a `$` topic nobody can subscribe to (wildcards never match
 * `$` topics, and the subscribe rule refuses `$…` and every filter but a device's own).
 */
export const DROPPED_TOPIC = '$hcp/dropped';

function drop(packet: PublishPacket): void {
  packet.topic = DROPPED_TOPIC;
  packet.payload = Buffer.alloc(0);
  packet.retain = false;
}

export interface AuthorizePublishOptions {
  hall: string;
  connections: Connections;
  limiter: RateLimiter;
  onDenied: OnDenied;
  onThrottled?: () => void;
  log: Logger;
  now?: () => number;
}

/**
 * A device publishes only its own `rating` and `status`, each within its size limit and the
 * per-device rate, a rating never retained; its last will (published by the broker when the connection dies) is held
 * to the same rule, and a will of a connection that another one has taken over is not
 * published at all: the device is online on the new one.
 */
export function authorizePublishHook(o: AuthorizePublishOptions): NonNullable<AedesOptions['authorizePublish']> {
  const now = o.now ?? Date.now;
  const held = new FifoRelease(now);
  return (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) => {
    try {
      if (!client) return done(new Error('publishes need a client'));
      const isWill = (client as unknown as { will?: unknown }).will === packet;
      const acl = checkPublish(o.hall, client.id, packet.topic);
      const kind = acl.ok ? acl.kind : undefined;
      if (isWill) {
        if (!acl.ok || acl.kind !== 'status') {
          o.onDenied({ action: 'will', client: client.id, reason: acl.ok ? 'will-not-status' : `will-${acl.reason}`, topic: packet.topic });
          return done(new Error('will refused'));
        }
        if (!o.connections.isCurrent(client)) {
          o.log.debug({ client: client.id }, 'will of a superseded connection not published');
          return done(new Error('connection was taken over'));
        }
        return done(null);
      }
      if (!acl.ok) {
        const parsedKind = packet.topic.split('/')[4];
        o.onDenied({
          action: 'publish',
          client: client.id,
          reason: acl.reason,
          topic: packet.topic.slice(0, 200),
          ...(parsedKind === 'rating' ? { kind: 'rating' as const } : {}),
        });
        drop(packet);
        return done(null);
      }
      // A rating is a one-time event the hub acknowledges, never state for later subscribers
      // (DESIGN.md: rating QoS 1, not retained). A retained one would sit in the broker and
      // be handed to whoever may later subscribe. Status is retained by design (its last
      // will says offline), so it may carry the flag.
      if (packet.retain && kind === 'rating') {
        o.onDenied({ action: 'publish', client: client.id, reason: 'retained', topic: packet.topic, kind });
        drop(packet);
        return done(null);
      }
      if (packet.payload.length > MAX_BYTES[kind!]) {
        o.onDenied({
          action: 'publish',
          client: client.id,
          reason: 'oversized',
          topic: packet.topic,
          kind,
          detail: `${packet.payload.length} bytes; the limit is ${MAX_BYTES[kind!]}`,
          ...(kind === 'rating' ? { payload: packet.payload as Buffer } : {}),
        });
        drop(packet);
        return done(null);
      }
      const t = now();
      const rate = o.limiter.take(client.id, t);
      if (rate.action === 'drop') {
        o.onDenied({ action: 'publish', client: client.id, reason: 'rate-limited', topic: packet.topic, kind });
        drop(packet);
        return done(null);
      }
      if (rate.action === 'pass' && !held.holding(client.id)) return done(null);
      // Holding the callback holds this client's next read: TCP slows the device down.
      o.onThrottled?.();
      held.hold(client.id, t + (rate.action === 'delay' ? rate.ms : 0), () => done(null));
    } catch (e) {
      o.log.error({ err: e, client: client?.id }, 'publish authorisation failed');
      done(new Error('authorisation failed'));
    }
  };
}
