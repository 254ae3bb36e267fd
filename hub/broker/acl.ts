/**
 * The topic rules of the hall broker, as pure functions: a device publishes only its own
 * `rating` and `status`, subscribes only to its own `ack`, `config` and `session`, never with
 * wildcards, and never touches `$SYS` or anything outside hcp/v1/{thisHall}/{itself}/….
 */
import { parseTopic, type TopicKind } from '../../protocol/index.js';

export type AclReason = 'sys-topic' | 'not-our-topic' | 'wrong-hall' | 'not-own-topic' | 'wrong-direction' | 'wildcard';
export type AclDecision = { ok: true; kind: TopicKind } | { ok: false; reason: AclReason };

const DEVICE_PUBLISHES: readonly TopicKind[] = ['rating', 'status'];
const DEVICE_SUBSCRIBES: readonly TopicKind[] = ['ack', 'config', 'session'];

function check(hall: string, clientId: string, t: string, allowed: readonly TopicKind[]): AclDecision {
  if (t.startsWith('$')) return { ok: false, reason: 'sys-topic' };
  const addr = parseTopic(t);
  if (!addr) return { ok: false, reason: 'not-our-topic' };
  if (addr.hall !== hall) return { ok: false, reason: 'wrong-hall' };
  if (addr.device !== clientId) return { ok: false, reason: 'not-own-topic' };
  if (!allowed.includes(addr.kind)) return { ok: false, reason: 'wrong-direction' };
  return { ok: true, kind: addr.kind };
}

export function checkPublish(hall: string, clientId: string, topicName: string): AclDecision {
  return check(hall, clientId, topicName, DEVICE_PUBLISHES);
}

export function checkSubscribe(hall: string, clientId: string, filter: string): AclDecision {
  if (filter.startsWith('$')) return { ok: false, reason: 'sys-topic' };
  if (filter.includes('+') || filter.includes('#')) return { ok: false, reason: 'wildcard' };
  return check(hall, clientId, filter, DEVICE_SUBSCRIBES);
}

/** May `clientId` receive a message on `topicName`? (Defence in depth behind the subscribe rule.) */
export function mayReceive(hall: string, clientId: string, topicName: string): boolean {
  return check(hall, clientId, topicName, DEVICE_SUBSCRIBES).ok;
}
