/**
 * The release API: list releases and where each device stands, roll a release out (hall IT's
 * token), and the bundle download for devices — authenticated with the device's own MQTT
 * credentials (HTTP Basic: device id and secret, the same check as the broker's), and only
 * the bundle that device is targeted for.
 */
import { createReadStream, statSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ID_PATTERN } from '../../protocol/index.js';
import { HttpError, useZod, type ApiDeps } from '../api/server.js';
import type { Releases, RolloutSelection } from './releases.js';

const VersionParams = z.object({ version: z.string().regex(/^[0-9A-Za-z.-]{1,64}$/) });
const RolloutBody = z
  .object({
    devices: z.array(z.string().regex(ID_PATTERN)).min(1).max(10_000).optional(),
    percent: z.number().min(0).max(100).optional(),
    all: z.literal(true).optional(),
  })
  .strict()
  .refine((b) => [b.devices, b.percent, b.all].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of devices, percent or all',
  });

/** `Authorization: Basic base64(device:secret)` → the two parts, or null. */
function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic ([A-Za-z0-9+/=]{1,512})$/.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i <= 0 ? null : { user: text.slice(0, i), password: text.slice(i + 1) };
}

function unauthorized(reply: FastifyReply): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', 'Basic realm="haochaping devices"')
    .send({ error: 'unauthorized', message: 'a device id and its secret are required (HTTP Basic)' });
}

export function releasesRoutes(releases: Releases) {
  return async function routes(app: FastifyInstance, d: ApiDeps): Promise<void> {
    useZod(app);
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get(
      '/api/releases',
      {
        onRequest: d.allow('viewer'),
        schema: { summary: 'Release bundles on the hub, and per device: the release it runs, its target, its update state' },
      },
      async () => {
        const devices = releases.devices();
        return {
          releases: releases.list().map((x) => ({
            version: x.version,
            platform: x.platform,
            sha256: x.sha256,
            size: x.size,
            files: x.files,
            keyFingerprint: x.key_fingerprint,
            addedAt: x.added_at,
            targeted: devices.filter((dv) => dv.target === x.version).length,
            running: devices.filter((dv) => dv.running === x.version).length,
          })),
          devices,
        };
      },
    );

    r.post(
      '/api/releases/:version/rollout',
      {
        onRequest: d.allow('admin'),
        schema: {
          params: VersionParams,
          body: RolloutBody,
          summary: 'Roll a release out to some devices, a percentage (stable: a higher percent later only adds devices) or all',
        },
      },
      async (req) => {
        const b = req.body;
        const sel: RolloutSelection = b.devices ? { devices: b.devices } : b.percent !== undefined ? { percent: b.percent } : { all: true };
        // A ReleaseStoreError (no such release or device, a bad percent) is answered with its status.
        const res = releases.rollout(req.params.version, sel);
        for (const id of res.changed) {
          const row = d.registry.get(id);
          if (row && row.enrolled_at !== null && row.revoked_at === null) d.pushConfig(d.registry.config(row));
        }
        d.log.info({ version: req.params.version, changed: res.changed.length, targeted: res.targeted }, 'release rolled out');
        return { version: req.params.version, newlyTargeted: res.changed, targeted: res.targeted, devices: res.devices };
      },
    );

    // No API token: a device proves itself with its own credentials (checked below, before anything is read).
    r.get(
      '/api/releases/:version/bundle',
      {
        schema: {
          params: VersionParams,
          summary: 'A release bundle, for a device targeted for it (HTTP Basic: device id and secret; Range to resume)',
          security: [],
        },
      },
      async (req, reply) => {
        const c = basicCredentials(req.headers.authorization);
        if (!c || !(await d.registry.checkCredentials(c.user, c.password))) return unauthorized(reply);
        const rel = releases.get(req.params.version);
        if (!rel || !releases.mayDownload(c.user, rel.version))
          throw new HttpError(403, 'forbidden', `device ${c.user} is not targeted for release ${req.params.version}`);
        const file = releases.fileOf(rel);
        const size = statSync(file).size;
        const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
        const start = range ? Number(range[1]) : 0;
        if (start > size)
          return reply
            .code(416)
            .header('content-range', `bytes */${size}`)
            .send({ error: 'range', message: `the bundle has ${size} bytes` });
        reply
          .header('content-type', 'application/gzip')
          .header('accept-ranges', 'bytes')
          .header('content-length', String(size - start))
          .header('x-release-sha256', rel.sha256);
        if (range) reply.code(206).header('content-range', `bytes ${start}-${size - 1}/${size}`);
        return reply.send(createReadStream(file, { start }));
      },
    );
  };
}
