import type { FastifyInstance } from 'fastify';
import { countsByState } from '../../forwarder/queue.js';
import type { ApiDeps } from '../server.js';

/** GET /api/stats: what the hub holds, forwarded and refused — the simulator's account reads this. */
export async function statsRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  app.get('/api/stats', { onRequest: d.allow('viewer', 'queue-system') }, async () => {
    const one = <T>(sql: string) => d.db.prepare<[], T>(sql).get()!;
    const stored = one<{ n: number; ratings: number }>("SELECT count(*) AS n, coalesce(sum(kind = 'rating'), 0) AS ratings FROM ratings");
    const fq = countsByState(d.db);
    const rejections = d.db
      .prepare<[], { reason: string; n: number }>('SELECT reason, count(*) AS n FROM rejections GROUP BY reason')
      .all();
    const backlog = d.forwarder?.backlog() ?? { count: fq.get('pending') ?? 0, oldestEnqueuedAt: null };
    return {
      stored: stored.n,
      ratings: stored.ratings,
      forwarded: fq.get('done') ?? 0,
      forwardRejected: fq.get('rejected') ?? 0,
      backlog: backlog.count,
      oldestBacklogAt: backlog.oldestEnqueuedAt,
      rejections: Object.fromEntries(rejections.map((r) => [r.reason, r.n])),
      gaps: one<{ n: number }>('SELECT count(*) AS n FROM gaps').n,
    };
  });
}
