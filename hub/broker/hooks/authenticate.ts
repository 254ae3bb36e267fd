import type { AedesOptions, AuthenticateError } from 'aedes';
import type { Logger } from 'pino';
import { MAX_BYTES } from '../../../protocol/index.js';
import type { Registry } from '../../registry/registry.js';
import { checkPublish } from '../acl.js';
import type { Connections } from '../connections.js';
import type { OnDenied } from './denials.js';

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/**
 * Devices log in with their id as both client id and username and the secret they were given
 * at enrolment. Anything else is refused with "bad username or password" (CONNACK code 4) or,
 * for a client id that is not the username, "identifier rejected" (code 2). A last will is
 * authorised like a publish, at connect time (as mosquitto 2 does): a will aimed anywhere but
 * the device's own status topic, or larger than a status, is refused with "not authorized" (5).
 */
export function authenticateHook(
  registry: Registry,
  connections: Connections,
  log: Logger,
  onDenied: OnDenied,
): NonNullable<AedesOptions['authenticate']> {
  return (client, username, password, done) => {
    const id = client.id;
    if (!username || !password) {
      onDenied({ action: 'connect', client: id, reason: 'no-credentials' });
      return done(refusal('username and password required', 4), false);
    }
    if (id !== username) {
      onDenied({ action: 'connect', client: id, reason: 'client-id-mismatch', detail: `username ${username.slice(0, 64)}` });
      return done(refusal('client id must equal the device id', 2), false);
    }
    const will = (client as unknown as { _will?: { topic: string; payload: Buffer } | null })._will;
    if (will) {
      const acl = checkPublish(registry.hall, id, will.topic);
      const reason = !acl.ok
        ? `will-${acl.reason}`
        : acl.kind !== 'status'
          ? 'will-not-status'
          : will.payload.length > MAX_BYTES.status
            ? 'will-oversized'
            : null;
      if (reason) {
        onDenied({ action: 'will', client: id, reason, topic: will.topic.slice(0, 200) });
        return done(refusal("last will must be the device's own status", 5), false);
      }
    }
    registry
      .checkCredentials(username, password.toString('utf8'), () => !client.closed && !client.conn.destroyed)
      .then((good) => {
        if (good === 'gave-up') {
          // Its connection closed while an older scrypt check waited its turn: nobody to answer, nothing wrong.
          log.debug({ client: id }, 'skipped the secret check of a device that stopped waiting');
          return done(refusal('server busy', 3), false);
        }
        if (!good) {
          onDenied({ action: 'connect', client: id, reason: 'bad-credentials' });
          return done(refusal('bad username or password', 4), false);
        }
        connections.authenticated(client);
        done(null, true);
      })
      .catch((e: Error) => {
        log.error({ err: e }, 'authentication failed');
        done(refusal('server unavailable', 3), false);
      });
  };
}
