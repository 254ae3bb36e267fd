/**
 * One base for errors that mean an expected condition — a device not found, a stale work
 * order, a session already closed — rather than a bug: a stable machine-readable `code` and the
 * HTTP `status` it is answered with. The hub's token API and its hall page turn any CodedError
 * into the same answer ({ error: code, message } with that status; hub/http-errors.ts), so a
 * part that raises one need not know which HTTP surface called it.
 */
export class CodedError<C extends string = string> extends Error {
  override name = 'CodedError';

  constructor(
    readonly code: C,
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A CodedError whose status and code the HTTP route chooses itself (401 unauthorized, 404 not-found …). */
export class HttpError extends CodedError {
  override name = 'HttpError';

  constructor(status: number, code: string, message: string) {
    super(code, message, status);
  }
}
