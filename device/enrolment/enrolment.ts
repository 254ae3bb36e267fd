import { join } from 'node:path';
import { z } from 'zod';
import { DeviceConfigSchema, exportPublicKey, ID_PATTERN, type DeviceConfig } from '../../protocol/index.js';
import { loadOrCreateKeys } from '../identity/keys.js';
import { readJsonFile, writeFileAtomic } from '../storage/atomic-file.js';

export const ENROLMENT_FILE = 'enrolment.json';
export const CONFIG_CACHE_FILE = 'config.json';

/** What the hub gives a device in exchange for its one-time token and public key. */
export const EnrolmentReplySchema = z.object({
  hall: z.string().regex(ID_PATTERN),
  device: z.string().regex(ID_PATTERN),
  window: z.string().min(1),
  mqtt: z.object({ url: z.string().nullable(), port: z.number().int(), tls: z.boolean(), username: z.string(), password: z.string() }),
  config: DeviceConfigSchema,
  /** PEM of the hall CA, so the device can verify the hub's TLS certificate. */
  ca: z.string().nullable().default(null),
});
export type EnrolmentReply = z.infer<typeof EnrolmentReplySchema>;

export const EnrolmentSchema = z.object({
  hall: z.string().regex(ID_PATTERN),
  device: z.string().regex(ID_PATTERN),
  window: z.string(),
  hubUrl: z.string(),
  mqttUrl: z.string(),
  username: z.string(),
  password: z.string(),
  ca: z.string().nullable().default(null),
  enrolledAt: z.number(),
});
export type Enrolment = z.infer<typeof EnrolmentSchema>;

export class EnrolmentError extends Error {
  override readonly name = 'EnrolmentError';
}

export function loadEnrolment(dataDir: string): Enrolment | null {
  const raw = readJsonFile(join(dataDir, ENROLMENT_FILE));
  if (raw === null) return null;
  const parsed = EnrolmentSchema.safeParse(raw);
  if (!parsed.success) throw new EnrolmentError(`${join(dataDir, ENROLMENT_FILE)} is damaged: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/**
 * Enrols this device with a hub: makes the signing key (if there is none yet), sends the
 * public half with the one-time token, and stores the credentials and first config the hub
 * returns — atomically, so a power cut leaves either no enrolment or a whole one.
 */
export async function enrol(dataDir: string, hubUrl: string, token: string, firmware: string): Promise<{ enrolment: Enrolment; config: DeviceConfig }> {
  const keys = loadOrCreateKeys(dataDir);
  const url = new URL('/api/enrol', hubUrl);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, publicKey: exportPublicKey(keys.publicKey), firmware }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    throw new EnrolmentError(`cannot reach the hub at ${url}: ${(e as Error).message}`);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new EnrolmentError(`hub refused enrolment (${res.status}): ${(body as { message?: string } | null)?.message ?? 'no reason given'}`);
  const reply = EnrolmentReplySchema.parse(body);
  const scheme = reply.mqtt.tls ? 'mqtts' : 'mqtt';
  const enrolment: Enrolment = {
    hall: reply.hall,
    device: reply.device,
    window: reply.window,
    hubUrl,
    mqttUrl: reply.mqtt.url ?? `${scheme}://${new URL(hubUrl).hostname}:${reply.mqtt.port}`,
    username: reply.mqtt.username,
    password: reply.mqtt.password,
    ca: reply.ca,
    enrolledAt: Date.now(),
  };
  // The first config is cached too, so the device can rate before it ever reaches the broker.
  writeFileAtomic(join(dataDir, CONFIG_CACHE_FILE), JSON.stringify(reply.config), 0o600);
  writeFileAtomic(join(dataDir, ENROLMENT_FILE), JSON.stringify(enrolment, null, 2), 0o600);
  return { enrolment, config: reply.config };
}
