/**
 * The hall's citizen-link secret and the receipt keys derived from it (docs/citizen-channels.md).
 *
 * The secret (32 random bytes) lives in the hub's data directory, mode 0600, and never leaves
 * the hub. Each device gets its own receipt key, HMAC(secret, hall/device), in its own retained
 * config (its MQTT topic is readable by that device only); it signs its QR links with it. So:
 *  - a link cannot be guessed or altered: the hub recomputes the MAC;
 *  - a device can sign links only under its own id, i.e. for its own records and sessions —
 *    a stolen evaluator can mint nothing it could not already fake by pressing its buttons;
 *  - the device needs nothing from the hub at rating time (it works while the hub is away);
 *  - replacing the secret file invalidates every link at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { tightenFile } from '../../common/private-files.js';
import { receiptMac, type ReceiptKind } from '../../common/receipt-link.js';

export const CITIZEN_SECRET_FILE = 'citizen-link.key';

export class CitizenKeys {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly secret: Buffer,
    private readonly hall: string,
  ) {
    if (secret.length < 32) throw new RangeError('the citizen-link secret must be at least 32 bytes');
  }

  /** Reads the hall secret from the data directory, making it (0600) at the first start. */
  static loadOrCreate(dataDir: string, hall: string): CitizenKeys {
    const path = join(dataDir, CITIZEN_SECRET_FILE);
    if (!existsSync(path)) writeFileAtomic(path, randomBytes(32).toString('base64url') + '\n', 0o600);
    else tightenFile(path);
    return new CitizenKeys(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url'), hall);
  }

  /** The receipt key of one device (base64url, 32 bytes), as pushed in its config. */
  deviceKey(device: string): string {
    let k = this.cache.get(device);
    if (!k) {
      k = createHmac('sha256', this.secret).update(`hcp-receipt-key-v1/${this.hall}/${device}`).digest('base64url');
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(device, k);
    }
    return k;
  }

  /** Whether `mac` is the device's MAC of (kind, id); constant-time. */
  verify(device: string, kind: ReceiptKind, id: string, mac: string): boolean {
    const want = Buffer.from(receiptMac(this.deviceKey(device), kind, id));
    const got = Buffer.from(mac);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
