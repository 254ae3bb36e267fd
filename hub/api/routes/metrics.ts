import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

/** GET /metrics in Prometheus text format. */
export async function metricsRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', d.metrics.registry.contentType);
    return d.metrics.registry.metrics();
  });
}
