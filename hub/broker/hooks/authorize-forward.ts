import type { AedesOptions } from 'aedes';
import { mayReceive } from '../acl.js';

/**
 * Defence in depth behind the subscribe rule: a message is delivered to a client only if the
 * topic is that device's own `ack`, `config` or `session`, whatever subscription matched.
 */
export function authorizeForwardHook(hall: string): NonNullable<AedesOptions['authorizeForward']> {
  return (client, packet) => (mayReceive(hall, client.id, packet.topic) ? packet : null);
}
