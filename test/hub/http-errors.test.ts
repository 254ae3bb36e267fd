/**
 * One coded error base class and one HTTP mapping for the token API and the hall page
 * (common/errors.ts, hub/http-errors.ts): each expected condition answers with its own status
 * and stable code wherever it is raised; an invalid request is a 400 naming what was wrong;
 * anything else is a 500 "internal".
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CodedError, HttpError } from '../../common/errors.js';
import { UnknownQueryError } from '../../hub/api/route-rules.js';
import { errorAnswer } from '../../hub/http-errors.js';
import { RegistryError } from '../../hub/registry/registry.js';
import { SessionError } from '../../hub/sessions/session-book.js';
import { UserError } from '../../hub/users/users.js';
import { Refusal } from '../../hub/workorders/machine.js';
import { WorkOrderError } from '../../hub/workorders/store.js';

describe('errors answer over HTTP through one mapping', () => {
  it.each([
    [new RegistryError('not-found', 'no device ev-9'), 404, 'not-found'],
    [new RegistryError('exists', 'ev-1 exists'), 409, 'exists'],
    [new RegistryError('bad-token', 'bad token'), 403, 'bad-token'],
    [new RegistryError('invalid', 'bad settings'), 400, 'invalid'],
    [new SessionError('too-large', 'too large'), 413, 'too-large'],
    [new SessionError('paused', 'window paused'), 409, 'paused'],
    [new Refusal('too-late', 'the appeal period is over'), 422, 'too-late'],
    [new Refusal('forbidden', 'a viewer cannot'), 403, 'forbidden'],
    [new Refusal('invalid-input', 'note missing'), 400, 'invalid-input'],
    [new WorkOrderError('stale', 'someone acted first'), 409, 'stale'],
    [new WorkOrderError('not-found', 'no order 9'), 404, 'not-found'],
    [new UserError('last-admin', 'the last admin'), 409, 'last-admin'],
    [new UnknownQueryError('unknown query parameter "limt"'), 400, 'unknown-parameter'],
    [new HttpError(401, 'unauthorized', 'log in first'), 401, 'unauthorized'],
  ])('%s → its own status and code', (e, status, code) => {
    expect(e).toBeInstanceOf(CodedError);
    expect(errorAnswer(e)).toEqual({ status, code, message: e.message });
  });

  it('a request that does not validate is 400 "invalid-request" naming the field', () => {
    const r = z.object({ limit: z.number() }).safeParse({ limit: 'x' });
    const a = errorAnswer(r.error);
    expect(a).toMatchObject({ status: 400, code: 'invalid-request' });
    expect(a.message).toMatch(/limit/);
  });

  it("Fastify's own errors keep their status; anything else is 500 internal", () => {
    expect(errorAnswer(Object.assign(new Error('Request body is too large'), { statusCode: 413 }))).toMatchObject({
      status: 413,
      code: 'bad-request',
    });
    expect(errorAnswer(new TypeError('x is undefined'))).toMatchObject({ status: 500, code: 'internal' });
  });
});
