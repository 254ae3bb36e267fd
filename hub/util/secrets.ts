import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** A random secret for humans to paste and machines to send: 32 bytes, base64url. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** For high-entropy tokens a plain hash is enough to keep them out of a stolen database. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * scrypt cost (N) for device MQTT secrets. These are 32 random bytes, not passwords a person
 * chose: no KDF cost makes them guessable or not, the hash only keeps them out of a stolen
 * database. So the cost is set for the hub's sake: 2^12 (~20 ms here) instead of the 2^14
 * used for human passwords, because every device's first connect after a hub restart pays
 * it (1,000 devices: ~2 min of CPU at 2^14 on this machine). Stored hashes carry their own
 * N, so older ones still verify.
 */
export const DEVICE_SECRET_COST = 4096;
/** scrypt cost for passwords people chose (the hall page's staff accounts): these can be guessed, so the full cost. */
export const HUMAN_PASSWORD_COST = 16384;
const N = DEVICE_SECRET_COST;
const R = 8;
const P = 1;

function scryptAsync(secret: string, salt: Buffer, len: number, cost = { N, r: R, p: P }): Promise<Buffer> {
  return new Promise((res, rej) => scrypt(secret, salt, len, { ...cost, maxmem: 64 * 1024 * 1024 }, (e, key) => (e ? rej(e) : res(key))));
}

/**
 * Secrets (device MQTT secrets; staff passwords with HUMAN_PASSWORD_COST) are stored as scrypt
 * hashes: `scrypt$N$r$p$salt$hash`.
 */
export async function hashPassword(secret: string, cost: number = N): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, 32, { N: cost, r: R, p: P });
  return `scrypt$${cost}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await scryptAsync(secret, salt, expected.length, { N: Number(parts[1]), r: Number(parts[2]), p: Number(parts[3]) });
  return timingSafeEqual(key, expected);
}
