import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { exportPrivateKeyPem, generateDeviceKeys, importPrivateKeyPem, type DeviceKeys } from '../../protocol/index.js';
import { ensurePrivateDir, tightenFile } from '../../common/private-files.js';
import { writeFileAtomic } from '../../common/atomic-file.js';

export const KEY_FILE = 'device-key.pem';

/**
 * The device's Ed25519 signing key. Made on the device the first time it is needed (at
 * enrolment) and never leaves it; written atomically, readable by the agent's user only.
 */
export function loadOrCreateKeys(dataDir: string): DeviceKeys {
  // The data directory holds the key, the outbox and the MQTT secret: the agent's user only.
  ensurePrivateDir(dataDir);
  const path = join(dataDir, KEY_FILE);
  if (existsSync(path)) {
    tightenFile(path); // a key copied in by hand keeps no wider mode than the agent's own
    const privateKey = importPrivateKeyPem(readFileSync(path, 'utf8'));
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  const keys = generateDeviceKeys();
  writeFileAtomic(path, exportPrivateKeyPem(keys.privateKey), 0o600);
  return keys;
}
