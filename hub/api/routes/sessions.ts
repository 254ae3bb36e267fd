import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { displayText, ID_PATTERN } from '../../../protocol/index.js';
import { SessionError } from '../../sessions/session-book.js';
import { useZod, type ApiDeps } from '../server.js';

// Shown on the device and the wall: no control or bidi-control characters.
const Text = (max: number) => displayText(max);
const OpenBody = z
  .object({
    id: z
      .string()
      .regex(ID_PATTERN)
      .optional()
      .describe('your id for this session (retrying with the same id and content is safe); default: a new UUIDv7'),
    window: Text(32).describe('the window where the case was finished'),
    device: z.string().regex(ID_PATTERN).optional().describe('only needed if the window has more than one device'),
    cases: z.array(Text(64)).min(1).max(50).describe('办件编号: one case, or a batch handled together that gets one rating'),
    itemCode: Text(64).nullable().optional().describe('事项编码'),
    itemName: Text(200).nullable().optional().describe('事项名称'),
    staffId: Text(64).nullable().optional().describe('the staff member who handled it; default: who is logged in at the window'),
  })
  .strict();
const IdParams = z.object({ id: z.string().regex(ID_PATTERN) });
const ListQuery = z.object({
  window: z.string().max(32).optional(),
  state: z.enum(['open', 'rated', 'cancelled', 'defaulted', 'corrected']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/**
 * The queue/business system's side: open a session when a case is finished (the window's
 * device prompts the citizen), cancel it, and ask what became of it — including which
 * evaluation counts (the rating, the 7-day default, or a late rating that corrected it).
 */
export async function sessionsRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/api/sessions',
    {
      onRequest: d.allow('queue-system'),
      schema: { body: OpenBody, summary: 'A case is finished at a window: open a rating session on its device' },
    },
    async (req, reply) => {
      const res = d.ops.openSession(req.body);
      reply.code(res.created ? 201 : 200);
      return { session: res.session, delivered: res.delivered };
    },
  );

  r.post(
    '/api/sessions/:id/cancel',
    {
      onRequest: d.allow('queue-system'),
      schema: { params: IdParams, summary: 'Withdraw an open session (no rating expected, no default made)' },
    },
    async (req) => ({ session: d.ops.cancelSession(req.params.id) }),
  );

  r.get(
    '/api/sessions/:id',
    {
      onRequest: d.allow('viewer', 'queue-system'),
      schema: { params: IdParams, summary: 'A session, its outcome and the evaluation that counts' },
    },
    async (req) => {
      const s = d.sessions.get(req.params.id);
      if (!s) throw new SessionError('not-found', `no session ${req.params.id}`);
      return { session: s };
    },
  );

  r.get(
    '/api/sessions',
    { onRequest: d.allow('viewer', 'queue-system'), schema: { querystring: ListQuery, summary: 'Recent sessions, newest first' } },
    async (req) => ({ sessions: d.sessions.list(req.query) }),
  );
}
