import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { exportPrivateKeyPem, generateDeviceKeys, importPrivateKeyPem, type DeviceKeys } from '../../protocol/index.js';
import { writeFileAtomic } from '../storage/atomic-file.js';

export const KEY_FILE = 'device-key.pem';

/**
 * The device's Ed25519 signing key. Made on the device the first time it is needed (at
 * enrolment) and never leaves it; written atomically, readable by the agent's user only.
 */
export function loadOrCreateKeys(dataDir: string): DeviceKeys {
  const path = join(dataDir, KEY_FILE);
  if (existsSync(path)) {
    const privateKey = importPrivateKeyPem(readFileSync(path, 'utf8'));
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  const keys = generateDeviceKeys();
  writeFileAtomic(path, exportPrivateKeyPem(keys.privateKey), 0o600);
  return keys;
}
