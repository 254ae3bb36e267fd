/**
 * HTTP routes a device calls itself (a release bundle, the hall's voice recordings) take no API
 * token: the device proves itself with its own MQTT credentials in HTTP Basic (device id and
 * secret), checked exactly as the broker checks them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from '../registry/registry.js';

/** `Authorization: Basic base64(device:secret)` → the two parts, or null. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic ([A-Za-z0-9+/=]{1,512})$/.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i <= 0 ? null : { user: text.slice(0, i), password: text.slice(i + 1) };
}

/** The device the request proves to be, or null after answering 401. */
export async function authenticatedDevice(req: FastifyRequest, reply: FastifyReply, registry: Registry): Promise<string | null> {
  const c = basicCredentials(req.headers.authorization);
  if (c && (await registry.checkCredentials(c.user, c.password)) === true) return c.user;
  await reply
    .code(401)
    .header('www-authenticate', 'Basic realm="haochaping devices"')
    .send({ error: 'unauthorized', message: 'a device id and its secret are required (HTTP Basic)' });
  return null;
}
