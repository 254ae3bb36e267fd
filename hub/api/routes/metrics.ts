import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

/**
 * GET /metrics in Prometheus text format, for an API token with the viewer role (or admin):
 * backlogs, device names and refusal counts are not for anyone on the extranet. Prometheus
 * sends the token with `authorization: { credentials_file: … }` in its scrape config.
 */
export async function metricsRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  app.get(
    '/metrics',
    { onRequest: d.allow('viewer'), schema: { summary: 'Prometheus metrics (token with role viewer or admin)' } },
    async (_req, reply) => {
      reply.header('content-type', d.metrics.registry.contentType);
      return d.metrics.registry.metrics();
    },
  );
}
