import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DeviceConfigSchema, exportPublicKey, ID_PATTERN, type DeviceConfig } from '../../protocol/index.js';
import { loadOrCreateKeys } from '../identity/keys.js';
import { readJsonFile, writeFileAtomic } from '../../common/atomic-file.js';
import { fingerprintOf, formatFingerprint, isCertificateError, normalizeFingerprint, requestJson, type JsonReply } from './pinned-https.js';

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

export interface EnrolOptions {
  /**
   * The hall CA's SHA-256 fingerprint from the enrolment QR: the hub must then be https:// and
   * prove itself with a certificate from exactly that CA, which is stored for MQTT TLS.
   */
  caSha256?: string | null;
}

/**
 * The hall CA the QR pins, read from the hub and believed only if its fingerprint matches.
 * Runs before anything is sent or written: a refusal leaves the device as it was.
 */
async function pinnedCa(hubUrl: string, fingerprint: string): Promise<string> {
  let want: string;
  try {
    want = normalizeFingerprint(fingerprint);
  } catch (e) {
    throw new EnrolmentError((e as Error).message);
  }
  const base = new URL(hubUrl);
  if (base.protocol !== 'https:')
    throw new EnrolmentError(`the enrolment token pins a hall CA, so the hub address must be https:// (got ${hubUrl})`);
  let reply: JsonReply;
  try {
    reply = await requestJson(new URL('/api/enrol/ca', base), { method: 'GET', unverified: true });
  } catch (e) {
    throw new EnrolmentError(`cannot reach the hub at ${base.origin}: ${(e as Error).message}`);
  }
  const pem = (reply.body as { ca?: unknown } | null)?.ca;
  if (reply.status !== 200 || typeof pem !== 'string')
    throw new EnrolmentError(`refusing to enrol: ${base.origin} shows no hall CA (${reply.status}); nothing was sent or written`);
  const got = fingerprintOf(pem);
  if (got !== want) {
    throw new EnrolmentError(
      `refusing to enrol: ${base.origin} shows hall CA ${got ? formatFingerprint(got) : '(not a certificate)'}, not ${formatFingerprint(want)} from the enrolment token — the wrong hub or a man-in-the-middle; nothing was sent or written`,
    );
  }
  // The hub must now prove it holds a certificate from that CA, before a key is made or the
  // token sent: a relay that passed the real CA through fails here.
  try {
    await requestJson(new URL('/api/enrol/ca', base), { method: 'GET', ca: pem });
  } catch (e) {
    if (isCertificateError(e)) throw notPinned(base, e);
    throw new EnrolmentError(`cannot reach the hub at ${base.origin}: ${(e as Error).message}`);
  }
  return pem;
}

const notPinned = (base: URL, e: unknown) =>
  new EnrolmentError(
    `refusing to enrol: the TLS certificate of ${base.origin} is not from the pinned hall CA (${(e as Error).message}) — a man-in-the-middle or the wrong hub; the token was not sent`,
  );

/**
 * Enrols this device with a hub: makes the signing key (if there is none yet), sends the
 * public half with the one-time token, and stores the credentials and first config the hub
 * returns — atomically, so a power cut leaves either no enrolment or a whole one. With a
 * pinned CA (opts.caSha256) the hub is checked first and only the pinned CA is trusted.
 */
export async function enrol(
  dataDir: string,
  hubUrl: string,
  token: string,
  firmware: string,
  opts: EnrolOptions = {},
): Promise<{ enrolment: Enrolment; config: DeviceConfig }> {
  const pinned = opts.caSha256 ? await pinnedCa(hubUrl, opts.caSha256) : null;
  mkdirSync(dataDir, { recursive: true });
  const keys = loadOrCreateKeys(dataDir);
  const url = new URL('/api/enrol', hubUrl);
  let res: JsonReply;
  try {
    res = await requestJson(url, {
      method: 'POST',
      body: { token, publicKey: exportPublicKey(keys.publicKey), firmware },
      ...(pinned ? { ca: pinned } : {}),
    });
  } catch (e) {
    if (pinned && isCertificateError(e)) throw notPinned(url, e);
    throw new EnrolmentError(`cannot reach the hub at ${url}: ${(e as Error).message}`);
  }
  const body = res.body;
  if (res.status < 200 || res.status >= 300)
    throw new EnrolmentError(
      `hub refused enrolment (${res.status}): ${(body as { message?: string } | null)?.message ?? 'no reason given'}`,
    );
  const parsed = EnrolmentReplySchema.safeParse(body);
  if (!parsed.success) throw new EnrolmentError(`the hub's enrolment answer is not understood: ${parsed.error.issues[0]?.message}`);
  const reply = parsed.data;
  const scheme = reply.mqtt.tls ? 'mqtts' : 'mqtt';
  const enrolment: Enrolment = {
    hall: reply.hall,
    device: reply.device,
    window: reply.window,
    hubUrl,
    mqttUrl: reply.mqtt.url ?? `${scheme}://${new URL(hubUrl).hostname}:${reply.mqtt.port}`,
    username: reply.mqtt.username,
    password: reply.mqtt.password,
    // The CA the QR pinned, not whatever the answer names: MQTT trusts what the QR vouched for.
    ca: pinned ?? reply.ca,
    enrolledAt: Date.now(),
  };
  // The first config is cached too, so the device can rate before it ever reaches the broker.
  writeFileAtomic(join(dataDir, CONFIG_CACHE_FILE), JSON.stringify(reply.config), 0o600);
  writeFileAtomic(join(dataDir, ENROLMENT_FILE), JSON.stringify(enrolment, null, 2), 0o600);
  return { enrolment, config: reply.config };
}
