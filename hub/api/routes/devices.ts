import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { displayText, ID_PATTERN } from '../../../protocol/index.js';
import { DeviceSettingsSchema, RegistryError, type DeviceRow } from '../../registry/registry.js';
import { deviceUpdateOf } from '../../releases/releases.js';
import { useZod, type ApiDeps } from '../server.js';

const Window = displayText(32).describe('the window (counter) number or name, e.g. "12"');
const AddDeviceBody = z
  .object({
    window: Window,
    id: z.string().regex(ID_PATTERN).optional().describe('device id; default: the next free ev-NNN'),
    name: displayText(64).optional(),
    settings: DeviceSettingsSchema.optional(),
  })
  .strict();
const IdParams = z.object({ id: z.string().regex(ID_PATTERN) });
const PatchBody = z.object({ window: Window.optional(), settings: DeviceSettingsSchema.optional() }).strict();

/** The device registry: add (one-time enrolment token), list with health, change settings, revoke, re-enrol. */
export async function devicesRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  const r = app.withTypeProvider<ZodTypeProvider>();
  const summary = (row: DeviceRow) => ({
    id: row.id,
    window: row.window,
    name: row.name,
    enrolled: row.enrolled_at !== null,
    enrolledAt: row.enrolled_at,
    revoked: row.revoked_at !== null,
    revokedAt: row.revoked_at,
    keyEpoch: row.key_epoch,
    lastSeq: row.chain_seq,
    configVersion: row.config_version,
  });

  r.post(
    '/api/devices',
    {
      onRequest: d.allow('admin'),
      schema: {
        body: AddDeviceBody,
        summary: 'Register a device for a window; returns its one-time enrolment token and the hall CA fingerprint the device pins',
      },
    },
    async (req, reply) => {
      const { device, token } = d.registry.add(req.body);
      reply.code(201);
      return { device: summary(device), token, caFingerprint: d.mqtt.caFingerprint ?? null };
    },
  );

  r.get(
    '/api/devices',
    {
      onRequest: d.allow('viewer', 'queue-system'),
      schema: { summary: 'All devices with their health (online, last seen, firmware, backlog, clock, faults)' },
    },
    async () => ({
      devices: d.registry.list().map((row) => {
        const h = d.status.health(row.id);
        // `online`/`status`/`statusAt` kept for existing callers; `health` has the full picture.
        return { ...summary(row), online: h.online, status: d.status.get(row.id)?.status ?? null, statusAt: h.statusAt, health: h };
      }),
    }),
  );

  r.get(
    '/api/devices/:id',
    {
      onRequest: d.allow('viewer', 'queue-system'),
      schema: { params: IdParams, summary: 'One device: registry entry, health, current config and open sequence gaps' },
    },
    async (req) => {
      const row = d.registry.get(req.params.id);
      if (!row) throw new RegistryError('not-found', `no device ${req.params.id}`);
      const gaps = d.db
        .prepare<[string], { epoch: number; from_seq: number; to_seq: number; detected_at: number }>(
          'SELECT epoch, from_seq, to_seq, detected_at FROM gaps WHERE device = ? ORDER BY epoch, from_seq',
        )
        .all(row.id);
      const config = d.registry.config(row);
      return {
        device: summary(row),
        health: d.status.health(row.id),
        config,
        // Fleet updates: the release it should run and where its last update stands.
        release: { target: config.release?.version ?? null, update: deviceUpdateOf(d.db, row.id) },
        gaps: gaps.map((g) => ({ epoch: g.epoch, from: g.from_seq, to: g.to_seq, detectedAt: g.detected_at })),
      };
    },
  );

  r.patch(
    '/api/devices/:id',
    {
      onRequest: d.allow('admin'),
      schema: {
        params: IdParams,
        body: PatchBody,
        summary: "Change a device's window or settings; a changed config is pushed with a new version",
      },
    },
    async (req) => {
      const res = d.ops.updateDevice(req.params.id, req.body.settings ?? {}, req.body.window);
      return { device: summary(res.device), config: res.config, changed: res.changed };
    },
  );

  r.post(
    '/api/devices/:id/revoke',
    { onRequest: d.allow('admin'), schema: { params: IdParams, summary: 'Revoke a device: disconnected now, refused from now on' } },
    async (req) => ({ device: summary(d.ops.revoke(req.params.id)) }),
  );

  r.post(
    '/api/devices/:id/reenrol',
    {
      onRequest: d.allow('admin'),
      schema: { params: IdParams, summary: 'Start a device over with a new key: returns a new one-time enrolment token' },
    },
    async (req) => {
      const { device, token } = d.ops.reenrol(req.params.id);
      return { device: summary(device), token, caFingerprint: d.mqtt.caFingerprint ?? null };
    },
  );
}
