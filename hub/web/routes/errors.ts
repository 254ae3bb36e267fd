/** How the hall page answers an error: one status and code per kind of error. */
import { z } from 'zod';
import { UserError } from '../../users/users.js';
import { Refusal } from '../../workorders/machine.js';
import { WorkOrderError } from '../../workorders/store.js';

export class WebError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const REFUSAL_STATUS: Record<Refusal['code'], number> = {
  forbidden: 403,
  'own-appeal': 403,
  'invalid-transition': 409,
  'too-late': 422,
  'limit-reached': 422,
  'invalid-input': 400,
};

export function classify(e: unknown): { status: number; code: string } {
  if (e instanceof WebError) return { status: e.statusCode, code: e.code };
  if (e instanceof Refusal) return { status: REFUSAL_STATUS[e.code], code: e.code };
  if (e instanceof WorkOrderError) return { status: e.code === 'not-found' ? 404 : 409, code: e.code };
  if (e instanceof UserError) return { status: e.code === 'not-found' ? 404 : 409, code: e.code };
  if (e instanceof z.ZodError) return { status: 400, code: 'invalid-request' };
  const status = (e as { statusCode?: number }).statusCode ?? 500;
  return { status, code: status >= 500 ? 'internal' : 'bad-request' };
}

export function messageOf(e: unknown): string {
  if (e instanceof z.ZodError) return z.prettifyError(e);
  return (e as Error).message;
}
