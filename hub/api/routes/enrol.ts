import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { useZod, type ApiDeps } from '../server.js';

const EnrolBody = z.object({
  token: z.string().min(1).max(200).describe('the one-time enrolment token from hall IT'),
  publicKey: z.string().min(1).max(500).describe("the device's Ed25519 public key, base64 SPKI DER"),
  firmware: z.string().max(64).optional(),
});

/** POST /api/enrol: a device exchanges its one-time token and public key for credentials and config. */
export async function enrolRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/enrol',
    {
      schema: {
        body: EnrolBody,
        summary: 'A device exchanges its one-time token and public key for MQTT credentials, its config and the hall CA',
        security: [],
      },
    },
    async (req) => {
      const body = req.body;
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
    },
  );
  // The hall CA for a device that was given its fingerprint (in the enrolment QR): anyone may
  // read it, and the device believes it only if the fingerprint matches, then verifies this
  // hub's TLS certificate against it before it sends the token.
  app.get(
    '/api/enrol/ca',
    { schema: { summary: 'The hall CA certificate (PEM) devices pin at enrolment by its SHA-256 fingerprint', security: [] } },
    async () => ({ ca: d.mqtt.ca, fingerprint: d.mqtt.caFingerprint ?? null }),
  );
}
