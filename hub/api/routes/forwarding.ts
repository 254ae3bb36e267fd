import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { mapQueued } from '../../forwarder/messages.js';
import { countsByKind, forwardingCounts, listRejected, queuedEvaluation, repush } from '../../forwarder/queue.js';
import { HttpError, useZod, type ApiDeps } from '../server.js';

const RejectedQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().optional(),
});

/**
 * Forwarding to the province, for hall IT: the backlog and the link, the evaluations the
 * province refused (with its reason), and re-pushing them after a fix.
 *
 *   GET  /api/forwarding                  backlog (count, oldest age), done, rejected, link state
 *   GET  /api/forwarding/rejected         refused evaluations, newest first (?limit, ?before)
 *   GET  /api/forwarding/queue/:id        one queued evaluation, and what the profile sends for it
 *   POST /api/forwarding/repush           { ids: [...] } or { all: true } → back in the queue
 *   POST /api/forwarding/retry-now        forget backoffs and push now (after fixing the link)
 */
export async function forwardingRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  app.get('/api/forwarding', { onRequest: d.allow('viewer') }, async () => {
    const c = forwardingCounts(d.db);
    // Per kind (evaluations, work-order milestones, invalidations) and the hand-off destination's own queue.
    return {
      enabled: !!d.forwarder,
      ...c,
      link: d.forwarder?.status() ?? null,
      kinds: countsByKind(d.db),
      handoff: { ...forwardingCounts(d.db, Date.now(), 'handoff'), kinds: countsByKind(d.db, 'handoff') },
    };
  });

  app.get('/api/forwarding/rejected', { onRequest: d.allow('viewer'), schema: { querystring: RejectedQuery } }, async (req) => {
    const q = RejectedQuery.parse(req.query);
    return { rejected: listRejected(d.db, q) };
  });

  app.get('/api/forwarding/queue/:id', { onRequest: d.allow('viewer') }, async (req) => {
    const { id } = z.object({ id: z.string().min(1).max(128) }).parse(req.params);
    const q = queuedEvaluation(d.db, id);
    if (!q) throw new HttpError(404, 'not-found', `no evaluation ${id} in the forward queue`);
    let wire: unknown = null;
    const mapper = d.forwarder?.mapper();
    if (mapper) {
      try {
        wire = mapQueued(mapper.profile, q.kind, q.evaluation, mapper.context).map((i) => i.body);
      } catch (e) {
        wire = { error: (e as Error).message };
      }
    }
    return { ...q, wire };
  });

  app.post('/api/forwarding/repush', { onRequest: d.allow() }, async (req) => {
    const b = z
      .union([
        z.object({ ids: z.array(z.string().min(1).max(128)).min(1).max(10_000) }).strict(),
        z.object({ all: z.literal(true) }).strict(),
      ])
      .parse(req.body);
    const done = repush(d.db, 'all' in b ? 'all' : b.ids, 'api');
    d.log.info({ count: done.length }, 're-pushed rejected evaluations');
    d.forwarder?.retryNow();
    return { repushed: done.length, ids: done };
  });

  app.post('/api/forwarding/retry-now', { onRequest: d.allow() }, async () => {
    if (!d.forwarder) throw new HttpError(409, 'not-configured', 'this hub does not forward to a province');
    d.forwarder.retryNow();
    return { ok: true };
  });
}
