import { CodedError } from '../../common/errors.js';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import {
  DeviceConfigSchema,
  defaultDeviceConfig,
  GENESIS_HASH,
  ID_PATTERN,
  importPublicKey,
  usableEd25519Key,
  type DeviceConfig,
} from '../../protocol/index.js';
import { FlagPolicySchema, type FlagPolicy } from '../policy/flag-policy.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import { releaseTargetOf } from '../releases/releases.js';
import { hashDeviceSecret, isDeviceSecretHash, newSecret, tokenHash, verifyDeviceSecret, verifyPassword } from '../util/secrets.js';

/** Per-device settings a hall can change; everything else in the config comes from defaults. */
export const DeviceSettingsSchema = DeviceConfigSchema.pick({
  mode: true,
  buttons: true,
  paused: true,
  staff: true,
  windowName: true,
  feedbackUrl: true,
  voice: true,
})
  .extend({ timeouts: DeviceConfigSchema.shape.timeouts.partial(), prompts: DeviceConfigSchema.shape.prompts.partial() })
  .partial()
  .strict();
export type DeviceSettings = z.infer<typeof DeviceSettingsSchema>;

/** Settings for every device of the hall: the province's reason catalogue, prompts, timeouts, buttons, mode. */
export const HallSettingsSchema = DeviceConfigSchema.pick({
  mode: true,
  buttons: true,
  feedbackUrl: true,
  catalogue: true,
  reasonsAfter: true,
  reasonRequired: true,
  voiceClips: true,
})
  .extend({
    timeouts: DeviceConfigSchema.shape.timeouts.partial(),
    prompts: DeviceConfigSchema.shape.prompts.partial(),
    /** The hub's own: what each record flag does to a rating (hub/policy/flag-policy.ts). Not sent to devices. */
    flagPolicy: FlagPolicySchema,
  })
  .partial()
  .strict()
  .refine((s) => !s.catalogue || new Set(s.catalogue.reasons.map((r) => r.code)).size === s.catalogue.reasons.length, {
    message: 'catalogue.reasons has a code twice',
  })
  .refine((s) => !s.catalogue || s.catalogue.reasons.every((r) => Number(r.code[0]) === r.level), {
    message: 'each reason code starts with its level (e.g. 213 is level 2)',
  });
export type HallSettings = z.infer<typeof HallSettingsSchema>;

export interface DeviceRow {
  id: string;
  hall: string;
  window: string;
  name: string | null;
  settings: string;
  public_key: string | null;
  secret_hash: string | null;
  enrolled_at: number | null;
  revoked_at: number | null;
  created_at: number;
  config_version: number;
  chain_seq: number;
  chain_hash: string;
  /** Bumped when a device re-enrols with a new key: a new chain from seq 1. */
  key_epoch: number;
  /** Its key before a re-enrolment was started, until it enrols again. */
  previous_key: string | null;
}

/** Runs at most `n` jobs at once, the rest in arrival order. */
class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((res) => this.waiting.push(res));
    this.active++;
    try {
      return await job();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

type RegistryErrorCode = 'not-found' | 'exists' | 'bad-token' | 'token-expired' | 'revoked' | 'invalid';
const REGISTRY_STATUS: Record<RegistryErrorCode, number> = {
  'not-found': 404,
  exists: 409,
  'bad-token': 403,
  'token-expired': 403,
  revoked: 403,
  invalid: 400,
};

export class RegistryError extends CodedError<RegistryErrorCode> {
  override readonly name = 'RegistryError';
  constructor(code: RegistryErrorCode, message: string) {
    super(code, message, REGISTRY_STATUS[code]);
  }
}

export interface EnrolResult {
  device: DeviceRow;
  password: string;
  config: DeviceConfig;
}

/**
 * A device's current key: its SPKI (what the verification workers are given) and the epoch its
 * records belong to. The key object is imported on first use only: with verification workers
 * the ingest thread never needs it (each worker imports the key itself), and importing it there
 * cost ~3 % of the thread when 1,000 devices sent their first records after a restart.
 */
export class DeviceKey {
  private imported: KeyObject | undefined;
  constructor(
    readonly spki: string,
    readonly epoch: number,
  ) {}
  get key(): KeyObject {
    return (this.imported ??= importPublicKey(this.spki));
  }
}

/** The hall's devices: who they are, their keys and credentials, their configuration. */
export class Registry {
  private readonly keys = new Map<string, DeviceKey>();
  private hallCache: { body: string | null; settings: HallSettings } = { body: null, settings: {} };
  /**
   * Older device secrets are scrypt hashes (~10–20 ms of CPU each): those checks run two at a
   * time (one per core here) in arrival order, and a device that gave up waiting is skipped.
   * Each such device pays it once: its hash is replaced by the fast form on its first good
   * connect (hashDeviceSecret explains why that is as safe).
   */
  private readonly scryptSlots = new Slots(2);

  constructor(
    private readonly db: Db,
    readonly hall: string,
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string): DeviceRow | undefined {
    return prepared<[string], DeviceRow>(this.db, 'SELECT * FROM devices WHERE id = ?').get(id);
  }

  list(): DeviceRow[] {
    return this.db.prepare<[], DeviceRow>('SELECT * FROM devices ORDER BY window, id').all();
  }

  /** Registers a device for a window and returns its one-time enrolment token. */
  add(opts: { window: string; id?: string; name?: string; settings?: DeviceSettings; tokenTtlMs?: number }): {
    device: DeviceRow;
    token: string;
  } {
    const id = opts.id ?? this.nextId();
    if (!ID_PATTERN.test(id))
      throw new RegistryError('invalid', `device id ${JSON.stringify(id)} must be 1–64 letters, digits, "_" or "-"`);
    if (this.get(id)) throw new RegistryError('exists', `device ${id} already exists`);
    const settings = DeviceSettingsSchema.parse(opts.settings ?? {});
    const token = newSecret();
    this.db
      .prepare(
        'INSERT INTO devices (id, hall, window, name, settings, enrol_token_hash, enrol_expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        this.hall,
        opts.window,
        opts.name ?? null,
        JSON.stringify(settings),
        tokenHash(token),
        this.now() + (opts.tokenTtlMs ?? 7 * 86_400_000),
        this.now(),
      );
    return { device: this.get(id)!, token };
  }

  private nextId(): string {
    const n = (this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM devices').get()!.n ?? 0) + 1;
    for (let i = n; ; i++) {
      const id = `ev-${String(i).padStart(3, '0')}`;
      if (!this.get(id)) return id;
    }
  }

  /** Exchanges a one-time token and the device's public key for MQTT credentials and config. */
  async enrol(token: string, publicKey: string): Promise<EnrolResult> {
    let key: KeyObject;
    try {
      key = importPublicKey(publicKey);
    } catch {
      throw new RegistryError('invalid', 'publicKey must be a base64 SPKI Ed25519 public key');
    }
    if (!usableEd25519Key(key)) throw new RegistryError('invalid', 'publicKey must be an Ed25519 public key of full order (as generated)');
    const hash = tokenHash(token);
    // A cheap early refusal, so unknown tokens cost no scrypt; it decides nothing.
    if (!this.db.prepare<[string], { id: string }>('SELECT id FROM devices WHERE enrol_token_hash = ?').get(hash)) throw this.whyNot(hash);
    const password = newSecret();
    const secretHash = hashDeviceSecret(password);
    // Check and redeem in ONE statement: of any number of parallel enrolments with the same
    // token exactly one matches the row (SQLite runs writes one at a time and the first one
    // clears the hash); the rest change nothing and are refused below. A device that comes
    // back with the key it had keeps its chain (same outbox, seq goes on); a new key — a new
    // SD card, a replaced device — starts a new epoch at seq 1. SET expressions all see the
    // row as it was, so previous_key is compared before it is cleared.
    const now = this.now();
    const won = this.db
      .prepare<[{ key: string; secret: string; now: number; genesis: string; hash: string }], { id: string }>(
        `UPDATE devices SET
           public_key = @key, secret_hash = @secret, enrol_token_hash = NULL, enrol_expires_at = NULL, enrolled_at = @now, previous_key = NULL,
           key_epoch = CASE WHEN previous_key IS NOT NULL AND previous_key <> @key THEN key_epoch + 1 ELSE key_epoch END,
           chain_seq = CASE WHEN previous_key IS NOT NULL AND previous_key <> @key THEN 0 ELSE chain_seq END,
           chain_hash = CASE WHEN previous_key IS NOT NULL AND previous_key <> @key THEN @genesis ELSE chain_hash END
         WHERE enrol_token_hash = @hash AND revoked_at IS NULL AND enrol_expires_at >= @now
         RETURNING id`,
      )
      .get({ key: publicKey, secret: secretHash, now, genesis: GENESIS_HASH, hash });
    if (!won) throw this.whyNot(hash);
    this.keys.delete(won.id);
    const device = this.get(won.id)!;
    return { device, password, config: this.config(device) };
  }

  /** Why a token was not redeemed: said after the fact, for the message only. */
  private whyNot(hash: string): RegistryError {
    const row = this.db
      .prepare<[string], { id: string; revoked_at: number | null; enrol_expires_at: number | null }>(
        'SELECT id, revoked_at, enrol_expires_at FROM devices WHERE enrol_token_hash = ?',
      )
      .get(hash);
    if (!row) return new RegistryError('bad-token', 'enrolment token is unknown or already used');
    if (row.revoked_at !== null) return new RegistryError('revoked', `device ${row.id} is revoked`);
    if (row.enrol_expires_at !== null && row.enrol_expires_at < this.now())
      return new RegistryError('token-expired', 'enrolment token has expired; ask hall IT for a new one');
    return new RegistryError('bad-token', 'enrolment token is unknown or already used');
  }

  /** MQTT authentication: the username is the device id; revoked or unenrolled devices fail. */
  /**
   * 'gave-up': an older (scrypt) hash whose check was skipped because the device had already
   * closed its connection while waiting its turn — not a wrong secret.
   */
  async checkCredentials(username: string, password: string, stillWanted: () => boolean = () => true): Promise<boolean | 'gave-up'> {
    const row = this.get(username);
    if (!row || row.revoked_at !== null || !row.secret_hash) return false;
    const secretHash = row.secret_hash;
    if (isDeviceSecretHash(secretHash)) return verifyDeviceSecret(password, secretHash);
    const good = await this.scryptSlots.run(async () => {
      // A device that gave up waiting (its connect timed out) costs nothing more.
      if (!stillWanted()) return 'gave-up' as const;
      return verifyPassword(password, secretHash);
    });
    // Only if the secret is still the one just checked (not re-enrolled or revoked meanwhile).
    if (good === true)
      prepared(this.db, 'UPDATE devices SET secret_hash = ? WHERE id = ? AND secret_hash = ?').run(
        hashDeviceSecret(password),
        username,
        secretHash,
      );
    return good;
  }

  /** The key records of this device must be signed with; undefined if not enrolled or revoked. */
  publicKey(id: string): KeyObject | undefined {
    return this.signingKey(id)?.key;
  }

  /** The device's current key and the epoch (chain) records signed with it belong to. */
  signingKey(id: string): DeviceKey | undefined {
    const cached = this.keys.get(id);
    if (cached) return cached;
    const row = this.get(id);
    if (!row?.public_key || row.revoked_at !== null) return undefined;
    const entry = new DeviceKey(row.public_key, row.key_epoch);
    this.keys.set(id, entry);
    return entry;
  }

  hallSettings(): HallSettings {
    const body = prepared<[], { body: string }>(this.db, 'SELECT body FROM hall_settings WHERE id = 1').get()?.body ?? null;
    // Parsed again only when the stored settings change (asked for on every 差评 and config).
    if (body !== this.hallCache.body) this.hallCache = { body, settings: body ? HallSettingsSchema.parse(JSON.parse(body)) : {} };
    return this.hallCache.settings;
  }

  /** What each record flag does to a rating in this hall (the defaults where not set). */
  flagPolicy(): FlagPolicy {
    return this.hallSettings().flagPolicy ?? {};
  }

  /**
   * Replaces the hall-wide settings; every device whose config changes by it gets a new
   * config version. Returns those devices (the caller pushes their configs).
   */
  setHallSettings(settings: HallSettings): DeviceRow[] {
    const next = HallSettingsSchema.parse(settings);
    return this.db.transaction(() => {
      const before = new Map(this.list().map((d) => [d.id, JSON.stringify(this.config(d))]));
      this.db
        .prepare(
          'INSERT INTO hall_settings (id, body, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at',
        )
        .run(JSON.stringify(next), this.now());
      const changed = this.list().filter((d) => JSON.stringify(this.config(d)) !== before.get(d.id));
      const bump = this.db.prepare('UPDATE devices SET config_version = config_version + 1 WHERE id = ?');
      for (const d of changed) bump.run(d.id);
      return changed.map((d) => this.get(d.id)!);
    })();
  }

  /** Built-in defaults, then the hall's settings, then the device's own. */
  config(device: DeviceRow): DeviceConfig {
    const base = defaultDeviceConfig(device.hall, device.id, device.window);
    const { flagPolicy: _hubOnly, ...h } = this.hallSettings();
    const s = DeviceSettingsSchema.parse(JSON.parse(device.settings));
    return DeviceConfigSchema.parse({
      ...base,
      ...h,
      ...s,
      timeouts: { ...base.timeouts, ...h.timeouts, ...s.timeouts },
      prompts: { ...base.prompts, ...h.prompts, ...s.prompts },
      version: device.config_version,
      ...releaseTarget(this.db, device.id),
    });
  }

  private mustGet(id: string): DeviceRow {
    const row = this.get(id);
    if (!row) throw new RegistryError('not-found', `no device ${id}`);
    return row;
  }

  /** Devices in service at a window: enrolled and not revoked. */
  atWindow(window: string): DeviceRow[] {
    return this.db
      .prepare<[string], DeviceRow>('SELECT * FROM devices WHERE window = ? AND enrolled_at IS NOT NULL AND revoked_at IS NULL ORDER BY id')
      .all(window);
  }

  /**
   * Changes a device's settings (merged into what it has; `null` clears staff and the like)
   * and, if its config really changed, bumps the config version. Returns the device and
   * whether its config changed (the caller pushes it).
   */
  updateSettings(id: string, patch: DeviceSettings, window?: string): { device: DeviceRow; changed: boolean } {
    const row = this.mustGet(id);
    const p = DeviceSettingsSchema.parse(patch);
    const old = DeviceSettingsSchema.parse(JSON.parse(row.settings));
    const merged = DeviceSettingsSchema.parse({
      ...old,
      ...p,
      timeouts: { ...old.timeouts, ...p.timeouts },
      prompts: { ...old.prompts, ...p.prompts },
    });
    const before = this.config(row);
    const after = this.config({ ...row, settings: JSON.stringify(merged), window: window ?? row.window });
    if (JSON.stringify(before) === JSON.stringify(after)) return { device: row, changed: false };
    this.db
      .prepare('UPDATE devices SET settings = ?, window = ?, config_version = config_version + 1 WHERE id = ?')
      .run(JSON.stringify(merged), window ?? row.window, id);
    return { device: this.get(id)!, changed: true };
  }

  revoke(id: string): DeviceRow {
    const r = this.db
      .prepare('UPDATE devices SET revoked_at = ?, enrol_token_hash = NULL, enrol_expires_at = NULL WHERE id = ? AND revoked_at IS NULL')
      .run(this.now(), id);
    if (r.changes === 0) this.mustGet(id);
    this.keys.delete(id);
    return this.get(id)!;
  }

  /**
   * Starts a device over (a replaced SD card, a lost key, a revoked device put back into
   * service): its MQTT secret is forgotten at once and a new one-time token is issued. When
   * it enrols again with a new key, the next key epoch begins and the hub expects a new chain
   * from seq 1; with the key it had, its chain simply goes on. Records already stored stay,
   * under the epoch they were signed in.
   */
  reenrol(id: string, tokenTtlMs = 7 * 86_400_000): { device: DeviceRow; token: string } {
    this.mustGet(id);
    const token = newSecret();
    this.db
      .prepare(
        `UPDATE devices SET previous_key = coalesce(public_key, previous_key), public_key = NULL, secret_hash = NULL, enrolled_at = NULL, revoked_at = NULL,
           enrol_token_hash = ?, enrol_expires_at = ?, config_version = config_version + 1 WHERE id = ?`,
      )
      .run(tokenHash(token), this.now() + tokenTtlMs, id);
    this.keys.delete(id);
    return { device: this.get(id)!, token };
  }
}

/** The release rolled out to the device, as its config's `release` (absent when none). */
function releaseTarget(db: Db, device: string): { release?: ReturnType<typeof releaseTargetOf> } {
  const release = releaseTargetOf(db, device);
  return release ? { release } : {};
}
