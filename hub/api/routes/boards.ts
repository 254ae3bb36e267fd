import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BoardError } from '../../citizen/board.js';
import { HttpError, useZod, type ApiDeps } from '../server.js';

/** A window's printable QR board (hub/citizen/board.ts), for `haochaping hub window board` and scripts. */
export async function boardsRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  if (!d.citizen) return;
  const citizen = d.citizen;
  useZod(app);
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/windows/:window/board',
    {
      onRequest: d.allow('viewer'),
      schema: {
        params: z.object({ window: z.string().min(1).max(32) }),
        querystring: z.object({ format: z.enum(['png', 'pdf']).default('pdf') }),
        summary: "A window's printable QR board: A5, PDF or 300 dpi PNG; the QR leads where citizen.board.target says",
      },
    },
    async (req, reply) => {
      try {
        const b = await citizen.board(req.params.window, req.query.format);
        return reply
          .header('content-type', b.contentType)
          .header('content-disposition', `attachment; filename="window-${encodeURIComponent(req.params.window)}-board.${req.query.format}"`)
          .header('x-board-url', b.url)
          .send(b.body);
      } catch (e) {
        if (e instanceof BoardError) throw new HttpError(e.message.startsWith('no device') ? 404 : 409, 'board', e.message);
        throw e;
      }
    },
  );
}
