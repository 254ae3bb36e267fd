import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ROLES } from '../tokens.js';
import { HttpError, useZod, type ApiDeps } from '../server.js';

const CreateBody = z.object({ name: z.string().min(1).max(64).describe('who uses it, e.g. "queue system"'), role: z.enum(ROLES) }).strict();
const NameParams = z.object({ name: z.string().min(1).max(64) });

/** API tokens (admin only): create one for the queue system or a viewer, list, revoke. The secret is shown once. */
export async function tokensRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/api/tokens',
    { onRequest: d.allow('admin'), schema: { body: CreateBody, summary: 'Create an API token; the secret is in this answer only' } },
    async (req, reply) => {
      const token = d.tokens.create(req.body.name, req.body.role);
      reply.code(201);
      return { name: req.body.name, role: req.body.role, token };
    },
  );
  r.get(
    '/api/tokens',
    { onRequest: d.allow('admin'), schema: { summary: 'API tokens (names and roles, never the secrets)' } },
    async () => ({ tokens: d.tokens.list() }),
  );
  r.post(
    '/api/tokens/:name/revoke',
    { onRequest: d.allow('admin'), schema: { params: NameParams, summary: 'Revoke the tokens with this name' } },
    async (req) => {
      const n = d.tokens.revoke(req.params.name);
      if (n === 0) throw new HttpError(404, 'not-found', `no live token named ${req.params.name}`);
      return { revoked: n };
    },
  );
}
