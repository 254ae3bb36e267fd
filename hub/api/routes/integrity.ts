import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpError, useZod, type ApiDeps } from '../server.js';

const Limit = z.coerce.number().int().min(1).max(5000).default(200);

/**
 * What hall IT must see about the integrity of the records: missing sequence ranges per
 * device, alarms (forged or forked records, gaps), and every refused message with its reason.
 */
export async function integrityRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/gaps',
    {
      onRequest: d.allow('viewer', 'queue-system'),
      schema: { summary: 'Records known to be missing: device, key epoch and the missing seq range' },
    },
    async () => ({
      gaps: d.db
        .prepare<[], { device: string; epoch: number; from_seq: number; to_seq: number; detected_at: number }>(
          'SELECT device, epoch, from_seq, to_seq, detected_at FROM gaps ORDER BY device, epoch, from_seq',
        )
        .all()
        .map((g) => ({
          device: g.device,
          epoch: g.epoch,
          from: g.from_seq,
          to: g.to_seq,
          missing: g.to_seq - g.from_seq + 1,
          detectedAt: g.detected_at,
        })),
    }),
  );

  r.get(
    '/api/alarms',
    {
      onRequest: d.allow('viewer', 'queue-system'),
      schema: {
        querystring: z.object({ open: z.enum(['0', '1']).optional(), limit: Limit }),
        summary: 'Alarms, newest first (open=1: not yet acknowledged)',
      },
    },
    async (req) => ({
      alarms: d.alarms.list({ open: req.query.open === '1', limit: req.query.limit }),
    }),
  );

  r.post(
    '/api/alarms/:n/acknowledge',
    {
      onRequest: d.allow('admin'),
      schema: { params: z.object({ n: z.coerce.number().int().positive() }), summary: 'Hall IT has seen to an alarm' },
    },
    async (req) => {
      if (!d.alarms.acknowledge(req.params.n)) throw new HttpError(404, 'not-found', `no open alarm ${req.params.n}`);
      return { ok: true };
    },
  );

  r.get(
    '/api/rejections',
    {
      onRequest: d.allow('viewer'),
      schema: {
        querystring: z.object({ device: z.string().max(64).optional(), limit: Limit }),
        summary: 'Refused rating messages, newest first, with reason and detail',
      },
    },
    async (req) => {
      const where = req.query.device ? 'WHERE device = ?' : '';
      const args: (string | number)[] = req.query.device ? [req.query.device, req.query.limit] : [req.query.limit];
      return {
        rejections: d.db
          .prepare<
            (string | number)[],
            {
              n: number;
              at: number;
              device: string | null;
              reason: string;
              record_id: string | null;
              seq: number | null;
              detail: string | null;
            }
          >(`SELECT * FROM rejections ${where} ORDER BY n DESC LIMIT ?`)
          .all(...args)
          .map((x) => ({ n: x.n, at: x.at, device: x.device, reason: x.reason, recordId: x.record_id, seq: x.seq, detail: x.detail })),
      };
    },
  );
}
