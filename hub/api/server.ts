import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { DeviceConfig } from '../../protocol/index.js';
import type { Forwarder } from '../forwarder/forwarder.js';
import type { Metrics } from '../metrics.js';
import { DeviceSettingsSchema, RegistryError, type Registry } from '../registry/registry.js';
import type { DeviceStatusStore } from '../status/device-status.js';
import type { Db } from '../store/db.js';
import type { ApiTokens, Role } from './tokens.js';

export interface ApiDeps {
  db: Db;
  registry: Registry;
  tokens: ApiTokens;
  status: DeviceStatusStore;
  forwarder: Forwarder | null;
  metrics: Metrics;
  log: Logger;
  /** What devices are told about the broker at enrolment. */
  mqtt: { url: string | null; port: number; tls: boolean; ca: string | null };
  /** A device's config changed or it enrolled: publish it (retained). */
  pushConfig: (config: DeviceConfig) => void;
}

const EnrolBody = z.object({ token: z.string().min(1).max(200), publicKey: z.string().min(1).max(500), firmware: z.string().max(64).optional() });
const AddDeviceBody = z.object({ window: z.string().min(1).max(32), id: z.string().optional(), name: z.string().max(64).optional(), settings: DeviceSettingsSchema.optional() });

const HTTP_STATUS: Record<RegistryError['code'], number> = { 'not-found': 404, exists: 409, 'bad-token': 403, 'token-expired': 403, revoked: 403, invalid: 400 };

export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({ loggerInstance: d.log.child({ part: 'api' }) as FastifyBaseLogger, bodyLimit: 256 * 1024, logController: new LogController({ disableRequestLogging: true }) });

  app.setErrorHandler((e, req, reply) => {
    if (e instanceof z.ZodError) return reply.code(400).send({ error: 'invalid-request', message: z.prettifyError(e) });
    if (e instanceof RegistryError) return reply.code(HTTP_STATUS[e.code]).send({ error: e.code, message: e.message });
    const status = (e as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err: e }, 'request failed');
    return reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad-request', message: (e as Error).message });
  });

  const allow = (...roles: Role[]) => async (req: FastifyRequest) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const role = m ? d.tokens.role(m[1]!) : null;
    if (!role) throw Object.assign(new Error('a valid API token is required (Authorization: Bearer …)'), { statusCode: 401 });
    if (role !== 'admin' && !roles.includes(role)) throw Object.assign(new Error(`role ${role} may not do this`), { statusCode: 403 });
  };

  app.get('/api/health', async () => ({ ok: true, hall: d.registry.hall }));

  app.post('/api/enrol', async (req) => {
    const body = EnrolBody.parse(req.body);
    const r = await d.registry.enrol(body.token, body.publicKey);
    d.log.info({ device: r.device.id, window: r.device.window }, 'device enrolled');
    d.pushConfig(r.config);
    return { hall: r.device.hall, device: r.device.id, window: r.device.window, mqtt: { url: d.mqtt.url, port: d.mqtt.port, tls: d.mqtt.tls, username: r.device.id, password: r.password }, config: r.config, ca: d.mqtt.ca };
  });

  app.post('/api/devices', { preHandler: allow('admin') }, async (req, reply) => {
    const body = AddDeviceBody.parse(req.body);
    const { device, token } = d.registry.add(body);
    reply.code(201);
    return { device: { id: device.id, window: device.window, name: device.name }, token };
  });

  app.get('/api/devices', { preHandler: allow('viewer', 'queue-system') }, async () => ({
    devices: d.registry.list().map((r) => {
      const s = d.status.get(r.id);
      return {
        id: r.id,
        window: r.window,
        name: r.name,
        enrolled: r.enrolled_at !== null,
        revoked: r.revoked_at !== null,
        lastSeq: r.chain_seq,
        online: s?.status.state === 'online',
        status: s?.status ?? null,
        statusAt: s?.updatedAt ?? null,
      };
    }),
  }));

  app.get('/api/stats', { preHandler: allow('viewer', 'queue-system') }, async () => {
    const one = <T>(sql: string) => d.db.prepare<[], T>(sql).get()!;
    const stored = one<{ n: number; ratings: number }>("SELECT count(*) AS n, coalesce(sum(kind = 'rating'), 0) AS ratings FROM ratings");
    const fq = d.db.prepare<[], { state: string; n: number }>('SELECT state, count(*) AS n FROM forward_queue GROUP BY state').all();
    const rejections = d.db.prepare<[], { reason: string; n: number }>('SELECT reason, count(*) AS n FROM rejections GROUP BY reason').all();
    const backlog = d.forwarder?.backlog() ?? { count: fq.find((r) => r.state === 'pending')?.n ?? 0, oldestEnqueuedAt: null };
    return {
      stored: stored.n,
      ratings: stored.ratings,
      forwarded: fq.find((r) => r.state === 'done')?.n ?? 0,
      forwardRejected: fq.find((r) => r.state === 'rejected')?.n ?? 0,
      backlog: backlog.count,
      oldestBacklogAt: backlog.oldestEnqueuedAt,
      rejections: Object.fromEntries(rejections.map((r) => [r.reason, r.n])),
      gaps: one<{ n: number }>('SELECT count(*) AS n FROM gaps').n,
    };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', d.metrics.registry.contentType);
    return d.metrics.registry.metrics();
  });

  return app;
}
