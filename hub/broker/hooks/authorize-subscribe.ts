import type { AedesOptions } from 'aedes';
import { checkSubscribe } from '../acl.js';
import type { OnDenied } from './denials.js';

/**
 * A device subscribes only to its own `ack`, `config` and `session` topics, with no wildcards
 * and nothing under `$SYS`. A refused filter is answered with SUBACK 0x80 (failure) and the
 * connection stays up, so a misconfigured device still gets what it is allowed.
 */
export function authorizeSubscribeHook(hall: string, onDenied: OnDenied): NonNullable<AedesOptions['authorizeSubscribe']> {
  return (client, sub, done) => {
    const acl = checkSubscribe(hall, client.id, sub.topic);
    if (acl.ok) return done(null, sub);
    onDenied({ action: 'subscribe', client: client.id, reason: acl.reason, topic: sub.topic.slice(0, 200) });
    done(null, null);
  };
}
