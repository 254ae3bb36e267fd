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
 * (test/protocol/ed25519.test.ts checks both on the same inputs).
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

/** With OpenSSL: the reference, and the check where libsodium is not there. */
export function verifyWithOpenssl(message: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  if (rawKey(key) === null) return false; // with another key type, verify(null, …) would check another algorithm
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
 * Whether a device may enrol with this key: an Ed25519 public key and, where libsodium is there,
 * a canonical point of the prime-order subgroup, as every generated key is. A key of small
 * order (the identity point, for one) lets anyone make "signatures" OpenSSL accepts.
 */
export function usableEd25519Key(key: KeyObject): boolean {
  const raw = rawKey(key);
  if (raw === null) return false;
  const s = loadSodium();
  return !s || s.crypto_core_ed25519_is_valid_point(raw);
}
