import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HallSettingsSchema } from '../../registry/registry.js';
import { useZod, type ApiDeps } from '../server.js';

/**
 * Settings for the whole hall: the province's reason catalogue (and its version), prompts,
 * timeouts, button map, mode. A device's own settings still win. Every device whose config
 * changes gets a new config version, pushed retained.
 */
export async function hallRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/api/hall/settings',
    { onRequest: d.allow('viewer', 'queue-system'), schema: { summary: 'The hall-wide device settings' } },
    async () => ({ hall: d.registry.hall, settings: d.registry.hallSettings() }),
  );
  r.put(
    '/api/hall/settings',
    {
      onRequest: d.allow('admin'),
      schema: {
        body: HallSettingsSchema,
        summary: "Replace the hall-wide device settings (e.g. load the province's reason catalogue); changed configs are pushed",
      },
    },
    async (req) => ({
      changed: d.ops.setHallSettings(req.body),
    }),
  );
}
