import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DeviceSettingsSchema } from '../../registry/registry.js';
import type { ApiDeps } from '../server.js';

const AddDeviceBody = z.object({ window: z.string().min(1).max(32), id: z.string().optional(), name: z.string().max(64).optional(), settings: DeviceSettingsSchema.optional() });

/** The device registry: add a device (returns its one-time enrolment token), list devices with status. */
export async function devicesRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  app.post('/api/devices', { preHandler: d.allow('admin') }, async (req, reply) => {
    const body = AddDeviceBody.parse(req.body);
    const { device, token } = d.registry.add(body);
    reply.code(201);
    return { device: { id: device.id, window: device.window, name: device.name }, token };
  });

  app.get('/api/devices', { preHandler: d.allow('viewer', 'queue-system') }, async () => ({
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
}
