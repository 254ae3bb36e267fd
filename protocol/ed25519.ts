/**
 * Ed25519 signature checks: libsodium (`sodium-native`) where its prebuilt binary loads, node's
 * OpenSSL otherwise.
 *
 * Why two: checking a record's signature is most of what the hub spends on a record. OpenSSL
 * through `crypto.verify` took 85–88 µs a signature here, libsodium 51–61 µs. On a hall server
 * with one verification worker that worker set the pace of a whole hall's backlog
 * (bench/README.md, issue 14). libsodium is also stricter: it refuses public keys and R values
 * of small order and non-canonical encodings, where OpenSSL accepts, for example, the identity
 * point as a public key, with R the identity and S zero, for any message at all. So anything
 * libsodium accepts OpenSSL accepts too, never the other way round
 * (test/protocol/ed25519.test.ts checks both on the same inputs). Where OpenSSL checks, keys and
 * keys of small order are refused before it is asked (`smallOrderPoint`), which closes that
 * forgery on every hub.
 *
 * sodium-native ships binaries for linux-x64 and linux-arm64 (among others), not for 32-bit ARM.
 * Where it does not load, OpenSSL checks alone. It is loaded on the first check, never by a
 * process that only signs (the device agent).
 */
import { createRequire } from 'node:module';
import { verify, type KeyObject } from 'node:crypto';

interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_core_ed25519_is_valid_point(point: Uint8Array): boolean;
}

export type Ed25519Backend = 'libsodium' | 'openssl';

const SIGNATURE_BYTES = 64;
const PUBLIC_KEY_BYTES = 32;

let sodium: Sodium | null | undefined;

function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = process.env.HCP_ED25519 === 'openssl' ? null : (createRequire(import.meta.url)('sodium-native') as Sodium);
    } catch {
      sodium = null; // no binary for this platform: OpenSSL checks alone
    }
  }
  return sodium;
}

/** Which library checks signatures in this process (`HCP_ED25519=openssl` forces OpenSSL, for comparison). */
export function ed25519Backend(): Ed25519Backend {
  return loadSodium() ? 'libsodium' : 'openssl';
}

/** The 32 bytes of an Ed25519 public key, once per key object. */
const rawKeys = new WeakMap<KeyObject, Buffer | null>();

function rawKey(key: KeyObject): Buffer | null {
  let raw = rawKeys.get(key);
  if (raw === undefined) {
    raw = null;
    if (key.type === 'public' && key.asymmetricKeyType === 'ed25519') {
      const x = Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url');
      if (x.length === PUBLIC_KEY_BYTES) raw = x;
    }
    rawKeys.set(key, raw);
  }
  return raw;
}

/** The field's prime, 2^255 − 19. */
const P = 2n ** 255n - 19n;

function powMod(b: bigint, e: bigint): bigint {
  let r = 1n;
  for (b %= P; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}

/** A square root mod P (P ≡ 5 mod 8), or null where there is none. */
function sqrtMod(a: bigint): bigint | null {
  a = ((a % P) + P) % P;
  const r = powMod(a, (P + 3n) / 8n);
  if ((r * r) % P === a) return r;
  const r2 = (r * powMod(2n, (P - 1n) / 4n)) % P; // times √−1
  return (r2 * r2) % P === a ? r2 : null;
}

let smallOrderYs: Set<bigint> | undefined;

/** Whether a key is of small order, once per key object (the OpenSSL path asks on every check). */
const smallOrderKeys = new WeakMap<KeyObject, boolean>();

/**
 * The y coordinates of the curve's eight points of small order (order 1, 2, 4 or 8), derived from
 * the curve −x² + y² = 1 + d·x²·y²: y = 1 (the identity), y = −1 (order 2), y = 0 (the two of
 * order 4), and ±y₈ for the four of order 8 — a point P whose double has y = 0, i.e. x² = −y²,
 * which on the curve gives d·y⁴ + 2·y² − 1 = 0.
 */
function smallOrderY(): Set<bigint> {
  if (!smallOrderYs) {
    const d = (((-121665n * powMod(121666n, P - 2n)) % P) + P) % P;
    const ys = new Set([1n, P - 1n, 0n]);
    const root = sqrtMod(1n + d)!;
    for (const y2 of [((-1n + root) * powMod(d, P - 2n)) % P, ((-1n - root) * powMod(d, P - 2n)) % P]) {
      const y = sqrtMod(y2);
      if (y !== null) ys.add(y).add(P - y);
    }
    smallOrderYs = ys;
  }
  return smallOrderYs;
}

/**
 * Whether a 32-byte point encoding names a point of small order, in any encoding: the sign bit
 * is ignored, and y ≥ P (not canonical) is taken mod P, as a lenient decoder would. A public key
 * of small order lets anyone make "signatures" OpenSSL accepts (the identity point as key, R the
 * identity and S zero, signs every message).
 */
export function smallOrderPoint(encoding: Uint8Array): boolean {
  if (encoding.length !== PUBLIC_KEY_BYTES) return false;
  let y = 0n;
  for (let i = PUBLIC_KEY_BYTES - 1; i >= 0; i--) y = (y << 8n) | BigInt(i === PUBLIC_KEY_BYTES - 1 ? encoding[i]! & 0x7f : encoding[i]!);
  return smallOrderY().has(y >= P ? y - P : y);
}

/**
 * With OpenSSL: the reference, and the check where libsodium is not there. Keys of small order
 * are refused here as libsodium refuses them: under one, OpenSSL alone accepts forgeries. (An R of
 * small order under a good key forges nothing: S must still be found without the private key.)
 */
export function verifyWithOpenssl(message: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  const raw = rawKey(key);
  if (raw === null) return false; // with another key type, verify(null, …) would check another algorithm
  let small = smallOrderKeys.get(key);
  if (small === undefined) smallOrderKeys.set(key, (small = smallOrderPoint(raw)));
  if (small) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false; // a signature OpenSSL cannot read
  }
}

/** Does `signature` sign `message` under `key`? False for any key that is not an Ed25519 public key. */
export function verifyEd25519(message: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  const s = loadSodium();
  if (!s) return verifyWithOpenssl(message, signature, key);
  const raw = rawKey(key);
  return raw !== null && signature.length === SIGNATURE_BYTES && s.crypto_sign_verify_detached(signature, message, raw);
}

/**
 * Whether a device may enrol with this key: an Ed25519 public key not of small order and, where
 * libsodium is there, a canonical point of the prime-order subgroup, as every generated key is.
 * A key of small order (the identity point, for one) lets anyone make "signatures" OpenSSL
 * accepts; where libsodium does not load (a 32-bit ARM hub) this is the check that stops it.
 */
export function usableEd25519Key(key: KeyObject): boolean {
  const raw = rawKey(key);
  if (raw === null || smallOrderPoint(raw)) return false;
  const s = loadSodium();
  return !s || s.crypto_core_ed25519_is_valid_point(raw);
}
