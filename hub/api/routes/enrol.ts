import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiDeps } from '../server.js';

const EnrolBody = z.object({ token: z.string().min(1).max(200), publicKey: z.string().min(1).max(500), firmware: z.string().max(64).optional() });

/** POST /api/enrol: a device exchanges its one-time token and public key for credentials and config. */
export async function enrolRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  app.post('/api/enrol', async (req) => {
    const body = EnrolBody.parse(req.body);
    const r = await d.registry.enrol(body.token, body.publicKey);
    d.log.info({ device: r.device.id, window: r.device.window }, 'device enrolled');
    d.pushConfig(r.config);
    return {
      hall: r.device.hall,
      device: r.device.id,
      window: r.device.window,
      mqtt: { url: d.mqtt.url, port: d.mqtt.port, tls: d.mqtt.tls, username: r.device.id, password: r.password },
      config: r.config,
      ca: d.mqtt.ca,
    };
  });
}
