/**
 * A release bundle's manifest: what version, for which platform, and the SHA-256 of every
 * file. The release key signs the manifest's exact bytes; every file is checked against it.
 * A device pins the release *public* key at install time (a file under /etc), never one that
 * arrives over the network — a compromised hub cannot push its own code.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';

const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

export const ManifestSchema = z.strictObject({
  format: z.literal(1),
  name: z.literal('haochaping'),
  version: z.string().regex(VERSION, 'a version like 1.2.3'),
  /** `${process.platform}-${process.arch}` of the machine that built the native modules. */
  platform: z.string().regex(/^[a-z0-9]+-[a-z0-9]+$/),
  /** Node's module ABI the native modules were built for (process.versions.modules). */
  nodeAbi: z.string().regex(/^\d+$/),
  createdAt: z.string(),
  files: z.record(
    z.string(),
    z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative(), executable: z.boolean() }),
  ),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** Why a bundle was refused: a reason code for metrics and the device's report, and one line for people. */
export type ReleaseRefusal =
  | 'malformed'
  | 'bad-signature'
  | 'hash-mismatch'
  | 'missing-file'
  | 'unlisted-file'
  | 'unsafe-entry'
  | 'wrong-platform'
  | 'downgrade';

export class ReleaseError extends Error {
  override readonly name = 'ReleaseError';
  constructor(
    readonly reason: ReleaseRefusal,
    message: string,
  ) {
    super(message);
  }
}

export function platformOfThisMachine(): string {
  return `${process.platform}-${process.arch}`;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Compares release versions (major.minor.patch; a pre-release sorts before its release). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split('-', 2) as [string, string | undefined];
    return { nums: core.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

export function parseManifest(bytes: Uint8Array): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ReleaseError('malformed', 'the manifest is not JSON');
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) throw new ReleaseError('malformed', `the manifest is not a haochaping release manifest: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}

export function generateReleaseKeys(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function keyFrom(pem: string, kind: 'private' | 'public'): KeyObject {
  try {
    const key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new ReleaseError('malformed', `the release ${kind} key is not an Ed25519 PEM key`);
  }
}

export function signManifest(manifestBytes: Uint8Array, privatePem: string): Buffer {
  return sign(null, manifestBytes, keyFrom(privatePem, 'private'));
}

export function manifestSignatureValid(manifestBytes: Uint8Array, signature: Uint8Array, publicPem: string): boolean {
  return verify(null, manifestBytes, keyFrom(publicPem, 'public'), signature);
}

/** The short fingerprint of a release public key people compare by eye (first 16 hex of its SHA-256). */
export function keyFingerprint(publicPem: string): string {
  const der = keyFrom(publicPem, 'public').export({ type: 'spki', format: 'der' });
  return sha256(der).slice(0, 16);
}
