/** Why a message was refused. Each code is a label on the hub's rejection counter. */
export type ProtocolErrorCode =
  | 'oversized'
  | 'malformed' // not JSON, or not an object
  | 'unknown-version'
  | 'invalid' // fails the schema
  | 'bad-signature'
  | 'topic-mismatch'; // the record names another hall or device than the topic it came on

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Result<T, E = ProtocolError> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
