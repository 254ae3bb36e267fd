/**
 * Rules every route of the token API follows, applied in one place as routes are added, so a
 * new route cannot forget them:
 *
 * - the API token is checked first (Fastify `onRequest`, before the body is even parsed): a
 *   caller without a valid token gets 401, never a 400 that describes a valid body;
 * - unknown query parameters are refused with 400 (a misspelt `?limt=5` must not silently
 *   mean the default);
 * - a known path with the wrong method answers 405 with an `Allow` header, not 404;
 * - the OpenAPI document lists every response a route can give, errors included, with the
 *   one error body all of them share.
 */
import type { FastifyRequest, RouteOptions } from 'fastify';
import { z } from 'zod';
import { CodedError } from '../../common/errors.js';
import { ROLES, type Role } from './tokens.js';

/** The body of every error answer. */
export const ERROR_BODY = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'a stable machine-readable code, e.g. "unauthorized", "invalid-request", "not-found"' },
    message: { type: 'string', description: 'what was wrong, for a person' },
  },
} as const;

type Guard = (req: FastifyRequest) => Promise<void>;
const guards = new WeakMap<Guard, readonly Role[]>();

/** Marks a function as the token check of a route, with the roles it lets through (admin always). */
export function markGuard(g: Guard, roles: readonly Role[]): Guard {
  guards.set(g, roles);
  return g;
}

const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

const key = (method: string, url: string) => `${method} ${url}`;

/** The 4xx a token-API route can answer beyond the ones its shape implies (params → 404 …). */
const EXTRA_ERRORS: Record<string, number[]> = {
  'POST /api/devices': [409],
  'POST /api/enrol': [403],
  'POST /api/sessions': [404, 409],
  'POST /api/sessions/:id/cancel': [409],
  'POST /api/forwarding/retry-now': [409],
};
const SUCCESS: Record<string, number[]> = {
  'POST /api/devices': [201],
  'POST /api/tokens': [201],
  'POST /api/sessions': [200, 201],
  'GET /api/health': [200, 503],
};

export class UnknownQueryError extends CodedError<'unknown-parameter'> {
  override readonly name = 'UnknownQueryError';
  constructor(message: string) {
    super('unknown-parameter', message, 400);
  }
}

/** For routes that take no query at all. */
async function refuseQuery(req: FastifyRequest): Promise<void> {
  const names = typeof req.query === 'object' && req.query !== null ? Object.keys(req.query) : [];
  if (names.length)
    throw new UnknownQueryError(
      `unknown query parameter${names.length > 1 ? 's' : ''} ${names.map((n) => JSON.stringify(n)).join(', ')}: this route takes none`,
    );
}

const DESCRIPTIONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  400: 'The request is invalid: a path or query parameter (unknown ones included) or the body; the message says which',
  401: 'No valid API token (Authorization: Bearer <token>)',
  403: "The token's role may not do this",
  404: 'No such object (device, session, window with a device, alarm, token …)',
  409: 'Conflicts with the current state (exists already, closed, paused, not configured …)',
  413: 'The body is larger than the API accepts (256 KiB)',
  415: 'The body is not JSON (Content-Type: application/json)',
  503: 'The hub is down (its database does not answer)',
};

/** One app's routes: what the rules, the 405 answer and the document need to know of them. */
export class RouteBook {
  /** Token-API routes → the roles their guard lets through (null: no token needed). */
  private readonly roles = new Map<string, readonly Role[] | null>();
  private readonly patterns: { method: string; re: RegExp }[] = [];

  /** The onRoute hook of the token API's context. */
  tokenApiRoute = (r: RouteOptions): void => {
    // A guard given as a preHandler would run after validation: run it on request instead.
    const pre = list(r.preHandler) as Guard[];
    const moved = pre.filter((f) => guards.has(f));
    if (moved.length) {
      r.preHandler = pre.filter((f) => !guards.has(f)) as RouteOptions['preHandler'];
      r.onRequest = [...(list(r.onRequest) as Guard[]), ...moved] as RouteOptions['onRequest'];
    }
    const guard = (list(r.onRequest) as Guard[]).find((f) => guards.has(f));

    const schema = (r.schema ??= {}) as Record<string, unknown>;
    if (schema.querystring instanceof z.ZodObject) schema.querystring = (schema.querystring as z.ZodObject).strict();
    else if (!schema.querystring) r.preValidation = [...(list(r.preValidation) as Guard[]), refuseQuery] as RouteOptions['preValidation'];

    for (const m of list(r.method)) this.roles.set(key(m, r.url), guard ? guards.get(guard)! : null);
  };

  /** The responses of one operation for the OpenAPI document (documentation only: never used to serialise). */
  documentedResponses(method: string, url: string): Record<string, unknown> {
    const k = key(method, url);
    const roles = this.roles.get(k) ?? null;
    const codes = new Set<number>([400, ...(EXTRA_ERRORS[k] ?? [])]);
    if (roles) {
      codes.add(401);
      if (!ROLES.every((role) => role === 'admin' || roles.includes(role))) codes.add(403);
    }
    if (url.includes(':')) codes.add(404);
    // Fastify reads a body sent with any of these, whether or not the route uses it.
    if (['POST', 'PUT', 'PATCH'].includes(method)) {
      codes.add(413);
      codes.add(415);
    }
    const out: Record<string, unknown> = {};
    for (const c of SUCCESS[k] ?? [200]) {
      if (c >= 500) continue;
      out[c] =
        url === '/metrics'
          ? { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }
          : { description: DESCRIPTIONS[c], type: 'object', additionalProperties: true };
    }
    for (const c of [...codes].sort()) out[c] = { description: DESCRIPTIONS[c], ...ERROR_BODY };
    for (const c of SUCCESS[k] ?? []) if (c >= 500) out[c] = { description: DESCRIPTIONS[c], ...ERROR_BODY };
    return out;
  }

  /** Root onRoute hook: remembers every route's path pattern (token API, web page, static files) for 405. */
  remember = (r: RouteOptions): void => {
    const re = new RegExp(
      '^' +
        r.url
          .split('/')
          .map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('/') +
        '$',
    );
    for (const m of list(r.method)) this.patterns.push({ method: m, re });
  };

  /** The methods some route answers at this path (empty: no such path). */
  allowedMethods(path: string): string[] {
    return [...new Set(this.patterns.filter((p) => p.re.test(path)).map((p) => p.method))].sort();
  }
}
