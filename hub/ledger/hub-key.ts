/**
 * The hub's own Ed25519 key, which signs the daily checkpoints. Made at the first start,
 * written atomically with mode 0600 beside the database; its public half is what the province
 * (or anyone holding an export) checks checkpoints against.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tightenFile } from '../../common/private-files.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { exportPrivateKeyPem, exportPublicKey, generateDeviceKeys, importPrivateKeyPem } from '../../protocol/index.js';

export const HUB_KEY_FILE = 'ledger-key.pem';

export interface HubKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64 SPKI DER, the form device keys are registered in too. */
  publicKeyB64: string;
}

function fromPrivate(privateKey: KeyObject): HubKey {
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyB64: exportPublicKey(publicKey) };
}

export function hubKeyPath(dataDir: string): string {
  return join(dataDir, HUB_KEY_FILE);
}

/** The hub's key, or null when this data directory has none yet (the hub never started). */
export function loadHubKey(dataDir: string): HubKey | null {
  const path = hubKeyPath(dataDir);
  if (!existsSync(path)) return null;
  tightenFile(path);
  return fromPrivate(importPrivateKeyPem(readFileSync(path, 'utf8')));
}

export function loadOrCreateHubKey(dataDir: string): HubKey {
  const existing = loadHubKey(dataDir);
  if (existing) return existing;
  const keys = generateDeviceKeys();
  writeFileAtomic(hubKeyPath(dataDir), exportPrivateKeyPem(keys.privateKey), 0o600);
  return fromPrivate(keys.privateKey);
}
