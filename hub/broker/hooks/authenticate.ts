import type { AedesOptions, AuthenticateError } from 'aedes';
import type { Logger } from 'pino';
import type { Registry } from '../../registry/registry.js';

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/**
 * Devices log in with their id as both client id and username and the secret they were given
 * at enrolment. Anything else is refused with "bad username or password" (CONNACK code 4) or,
 * for a client id that is not the username, "identifier rejected" (code 2).
 */
export function authenticateHook(registry: Registry, log: Logger, onRefused: (reason: string) => void): NonNullable<AedesOptions['authenticate']> {
  return (client, username, password, done) => {
    if (!username || !password) {
      onRefused('no-credentials');
      return done(refusal('username and password required', 4), false);
    }
    if (client.id !== username) {
      onRefused('client-id-mismatch');
      log.warn({ client: client.id, username }, 'refused: client id is not the username');
      return done(refusal('client id must equal the device id', 2), false);
    }
    registry
      .checkCredentials(username, password.toString('utf8'))
      .then((good) => {
        if (!good) {
          onRefused('bad-credentials');
          log.warn({ client: client.id }, 'refused: wrong credentials, unknown or revoked device');
          return done(refusal('bad username or password', 4), false);
        }
        done(null, true);
      })
      .catch((e: Error) => {
        log.error({ err: e }, 'authentication failed');
        done(refusal('server unavailable', 3), false);
      });
  };
}
