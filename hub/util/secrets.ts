import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** A random secret for humans to paste and machines to send: 32 bytes, base64url. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** For high-entropy tokens a plain hash is enough to keep them out of a stolen database. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * scrypt cost (N) device MQTT secrets were hashed with before device secrets became salted
 * HMAC-SHA256 (hashDeviceSecret): such hashes still verify, and are replaced on the device's
 * next good connect.
 */
export const DEVICE_SECRET_COST = 4096;
/** scrypt cost for passwords people chose (the hall page's staff accounts): these can be guessed, so the full cost. */
export const HUMAN_PASSWORD_COST = 16384;
const R = 8;
const P = 1;

function scryptAsync(secret: string, salt: Buffer, len: number, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((res, rej) => scrypt(secret, salt, len, { ...cost, maxmem: 64 * 1024 * 1024 }, (e, key) => (e ? rej(e) : res(key))));
}

/**
 * Passwords people chose (the hall page's staff, HUMAN_PASSWORD_COST) are stored as scrypt
 * hashes: `scrypt$N$r$p$salt$hash`.
 */
export async function hashPassword(secret: string, cost: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, 32, { N: cost, r: R, p: P });
  return `scrypt$${cost}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * A device's MQTT secret at rest: `hmac-sha256$salt$mac`, the secret's HMAC-SHA256 keyed with a
 * random 16-byte salt. The secret is 32 random bytes the hub made (newSecret), not a password a
 * person chose: a stolen database gives an attacker a 2^256 search whatever the hash costs, so
 * a deliberately slow KDF protects nothing here — it only made every device's first connect
 * after a hub restart cost ~10–20 ms of CPU (1,000 devices reconnecting: 10–20 s). Checking
 * this costs microseconds, every time, with no cache of proven secrets to keep.
 */
export function hashDeviceSecret(secret: string): string {
  const salt = randomBytes(16);
  return `hmac-sha256$${salt.toString('base64')}$${createHmac('sha256', salt).update(secret).digest('base64')}`;
}

/** Whether a stored hash is a device secret's fast form (hashDeviceSecret). */
export function isDeviceSecretHash(stored: string): boolean {
  return stored.startsWith('hmac-sha256$');
}

/** Checks a device secret against its fast hash (false for any other form). Constant time. */
export function verifyDeviceSecret(secret: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 3 || parts[0] !== 'hmac-sha256') return false;
  const expected = Buffer.from(parts[2]!, 'base64');
  const mac = createHmac('sha256', Buffer.from(parts[1]!, 'base64')).update(secret).digest();
  return expected.length === mac.length && timingSafeEqual(mac, expected);
}

/** Checks a secret against any stored form: a device secret's HMAC, or an scrypt hash (staff passwords, older device secrets). */
export async function verifyPassword(secret: string, stored: string): Promise<boolean> {
  if (isDeviceSecretHash(stored)) return verifyDeviceSecret(secret, stored);
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await scryptAsync(secret, salt, expected.length, { N: Number(parts[1]), r: Number(parts[2]), p: Number(parts[3]) });
  return timingSafeEqual(key, expected);
}
