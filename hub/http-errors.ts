/**
 * How the hub answers an error over HTTP — one mapping for the token API (hub/api) and the hall
 * page (hub/web): a CodedError with its own status and code; a request that does not validate
 * 400 "invalid-request" naming what was wrong; anything else its Fastify status, or 500.
 */
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CodedError } from '../common/errors.js';

export interface ErrorAnswer {
  status: number;
  /** The body's `error`: a stable code. */
  code: string;
  /** The body's `message`: for a person. */
  message: string;
}

export function errorAnswer(e: unknown): ErrorAnswer {
  if (e instanceof CodedError) return { status: e.status, code: e.code, message: e.message };
  if (e instanceof z.ZodError) return { status: 400, code: 'invalid-request', message: z.prettifyError(e) };
  if (hasZodFastifySchemaValidationErrors(e)) {
    const where = (e as { validationContext?: string }).validationContext ?? 'request';
    return {
      status: 400,
      code: 'invalid-request',
      message: e.validation.map((v) => `${where}${v.instancePath.replaceAll('/', '.').replace(/\.$/, '')}: ${v.message}`).join('; '),
    };
  }
  // Fastify's own (a body too large, not JSON …) carry their status.
  const status = (e as { statusCode?: number }).statusCode ?? 500;
  return { status, code: status >= 500 ? 'internal' : 'bad-request', message: (e as Error).message };
}
