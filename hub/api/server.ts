import fastifySwagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, validatorCompiler } from 'fastify-type-provider-zod';
import { $ZodType } from 'zod/v4/core';
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../protocol/index.js';
import type { Alarms } from '../alarms/alarms.js';
import type { Forwarder } from '../forwarder/forwarder.js';
import type { HallOps } from '../ops.js';
import type { SessionBook } from '../sessions/session-book.js';
import type { HubEvents } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { DeviceStatusStore } from '../status/device-status.js';
import type { Db } from '../store/db.js';
import { boardsRoutes } from './routes/boards.js';
import { devicesRoutes } from './routes/devices.js';
import { enrolRoutes } from './routes/enrol.js';
import { forwardingRoutes } from './routes/forwarding.js';
import { hallRoutes } from './routes/hall.js';
import { integrityRoutes } from './routes/integrity.js';
import { metricsRoutes } from './routes/metrics.js';
import { sessionsRoutes } from './routes/sessions.js';
import { statsRoutes } from './routes/stats.js';
import { tokensRoutes } from './routes/tokens.js';
import { windowsRoutes } from './routes/windows.js';
import { markGuard, RouteBook } from './route-rules.js';
import { errorAnswer } from '../http-errors.js';
import { HttpError } from '../../common/errors.js';
import type { ApiTokens, Role } from './tokens.js';
import type { HallWeb } from '../web/hall-web.js';
import type { CitizenChannel } from '../citizen/channel.js';
import { webRoutes } from '../web/routes.js';
import type { Releases } from '../releases/releases.js';
import { releasesRoutes } from '../releases/routes.js';

/** Everything route files may use. Each area of the API is one file in routes/. */
export interface ApiDeps {
  db: Db;
  registry: Registry;
  tokens: ApiTokens;
  status: DeviceStatusStore;
  forwarder: Forwarder | null;
  metrics: Metrics;
  events: EventEmitter<HubEvents>;
  log: Logger;
  /** What devices are told about the broker at enrolment; caFingerprint (SHA-256 of the hall CA) goes into the enrolment QR. */
  mqtt: { url: string | null; port: number; tls: boolean; ca: string | null; caFingerprint?: string | null };
  /** A device's config changed or it enrolled: publish it (retained). */
  pushConfig: (config: DeviceConfig) => void;
  /** Registry, broker and devices changed together: revoke, re-enrol, settings, sessions. */
  ops: HallOps;
  sessions: SessionBook;
  alarms: Alarms;
  /** The hall web page (staff log-in, wall, statistics, work orders); absent in bare API tests. */
  web?: HallWeb;
  /** The citizen's QR page and window boards (hub/citizen/); absent in bare API tests. */
  citizen?: CitizenChannel;
  /** Fleet updates (hub/releases/); absent in bare API tests. */
  releases?: Releases;
  /** The token check (use as `onRequest`) that lets only callers with one of these roles through (admin always). */
  allow: (...roles: Role[]) => (req: FastifyRequest) => Promise<void>;
}

/** Route files throw these for expected conditions (one class for the token API and the hall page). */
export { HttpError } from '../../common/errors.js';

/**
 * Routes whose schemas are zod use zod to validate (call this first in such a route plugin;
 * it is scoped to the plugin, so routes with plain JSON Schema keep Fastify's validator).
 */
export function useZod(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
}

const isZod = (x: unknown) => x instanceof $ZodType;
/**
 * OpenAPI from zod route schemas (routes with JSON Schema, or none, pass through as they are),
 * with every response the route can give, errors included (route-rules.ts). The responses are
 * added to the document only: the routes themselves serialise as before.
 */
const openApiTransform =
  (book: RouteBook): typeof jsonSchemaTransform =>
  (doc) => {
    const sc = doc.schema as Record<string, unknown> | undefined;
    const out =
      sc && ['body', 'querystring', 'params', 'headers'].some((k) => isZod(sc[k]))
        ? jsonSchemaTransform(doc)
        : ({ schema: doc.schema, url: doc.url } as ReturnType<typeof jsonSchemaTransform>);
    const schema = out.schema as Record<string, unknown> | undefined;
    if (!schema || schema.hide) return out;
    const method = (doc as { route?: { method?: string | string[] } }).route?.method;
    return { ...out, schema: { ...schema, response: book.documentedResponses(String([method].flat()[0]), doc.url) } };
  };

/** How the API listens: HTTPS with the hub's certificate, and which reverse proxies are believed. */
export interface ApiListener {
  https?: { key: Buffer; cert: Buffer } | null;
  /** Proxy addresses/CIDRs whose X-Forwarded-For/-Proto set req.ip and req.protocol (Secure cookies). */
  trustProxy?: string[];
  /** A TLS handshake not finished in this time is closed (Node's own default is 120 s). */
  handshakeTimeoutMs?: number;
}

export async function buildApi(d: Omit<ApiDeps, 'allow'>, listener: ApiListener = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: d.log.child({ part: 'api' }) as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    ...(listener.https ? { https: { ...listener.https, handshakeTimeout: listener.handshakeTimeoutMs ?? 10_000 } } : {}),
    trustProxy: listener.trustProxy?.length ? listener.trustProxy : false,
  }) as unknown as FastifyInstance; // the HTTPS server's type differs only in the node server class

  // A client that opens the HTTPS port and stops mid-handshake (or never starts it) would hold a
  // socket until Node's handshake timer, and Node leaves the socket open after reporting it.
  if (listener.https) {
    app.server.on('tlsClientError', (e: Error, socket: import('node:net').Socket) => {
      d.log.debug({ remote: socket.remoteAddress, err: e.message }, 'TLS handshake failed or timed out');
      socket.destroy();
    });
  }

  const book = new RouteBook();
  app.addHook('onRoute', book.remember);

  // One mapping for every expected error (CodedError: registry, sessions, work orders …) and for invalid requests.
  app.setErrorHandler((e, req, reply) => {
    const { status, code, message } = errorAnswer(e);
    if (status >= 500) req.log.error({ err: e }, 'request failed');
    return reply.code(status).send({ error: code, message });
  });

  const roleOf = (req: FastifyRequest) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m ? d.tokens.role(m[1]!) : null;
  };
  // Marked as a guard: route-rules.ts runs it on request, before the body is read or validated.
  const allow = (...roles: Role[]) =>
    markGuard(async (req: FastifyRequest) => {
      const role = roleOf(req);
      if (!role) throw new HttpError(401, 'unauthorized', 'a valid API token is required (Authorization: Bearer …)');
      if (role !== 'admin' && !roles.includes(role)) throw new HttpError(403, 'forbidden', `role ${role} may not do this`);
    }, roles);
  const deps: ApiDeps = { ...d, allow };

  // Registered before the routes so it sees them all; served at /api/openapi.json.
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'haochaping hall hub',
        description:
          '好差评 hall hub: devices, sessions from the queue/business system, status and integrity. Authenticate with "Authorization: Bearer <API token>".',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: openApiTransform(book),
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // A known path with another method is 405 with the methods it has; only an unknown path is 404.
  app.setNotFoundHandler(async (req, reply) => {
    const methods = book.allowedMethods(req.url.split('?', 1)[0]!);
    if (methods.length)
      return reply
        .code(405)
        .header('allow', methods.join(', '))
        .send({ error: 'method-not-allowed', message: `${req.method} is not allowed here; this path takes ${methods.join(', ')}` });
    return reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?', 1)[0]}` });
  });

  // The token API in one context, so its rules (route-rules.ts) apply to each of its routes.
  await app.register(async (api) => {
    api.addHook('onRoute', book.tokenApiRoute);
    // Up or down for anyone (a load balancer, systemd); the details only for a token holder.
    api.get('/api/health', { schema: { summary: 'Up or down; with an API token also the hall id', security: [] } }, async (req, reply) => {
      try {
        d.db.prepare('SELECT 1').get();
      } catch {
        return reply.code(503).send({ error: 'down', message: 'the hub database does not answer' });
      }
      return roleOf(req) ? { status: 'up', hall: d.registry.hall } : { status: 'up' };
    });
    for (const routes of [
      enrolRoutes,
      devicesRoutes,
      hallRoutes,
      sessionsRoutes,
      windowsRoutes,
      tokensRoutes,
      integrityRoutes,
      statsRoutes,
      metricsRoutes,
      forwardingRoutes,
      boardsRoutes,
    ])
      await api.register(routes, deps);
    if (d.releases) await api.register(releasesRoutes(d.releases), deps);
  });
  if (d.web) await app.register(webRoutes, d.web);
  return app;
}
