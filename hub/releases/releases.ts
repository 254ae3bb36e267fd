/**
 * Fleet updates through the hub: the signed release bundles hall IT added, which release each
 * device should run (its target, carried in its config), and where each device's update stands
 * (from its status messages).
 *
 * The hub checks a bundle's signature and every hash with the release key pinned on the hub
 * when it is added, so a broken or foreign bundle never reaches a device. The devices do not
 * trust the hub for that: each checks the bundle again with the key pinned on it at install.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, copyFileSync, createReadStream, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReleaseTarget, Status, UpdateReport, UpdateState } from '../../protocol/index.js';
import { CodedError } from '../../common/errors.js';
import { fsyncPath } from '../../common/fsync.js';
import { unpackBundle } from '../../common/release/bundle.js';
import { keyFingerprint } from '../../common/release/manifest.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';

export const RELEASES_MIGRATION = `
  -- Signed release bundles hall IT added (the file lives under <data>/releases/).
  CREATE TABLE releases (
    version TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    file TEXT NOT NULL,
    files INTEGER NOT NULL,
    key_fingerprint TEXT NOT NULL,
    added_at INTEGER NOT NULL
  );
  -- The release each device should run; a rollout only ever adds or moves targets.
  CREATE TABLE release_targets (
    device TEXT PRIMARY KEY REFERENCES devices (id),
    version TEXT NOT NULL REFERENCES releases (version),
    set_at INTEGER NOT NULL
  );
  -- The last update state each device reported (kept while it is offline).
  CREATE TABLE device_updates (
    device TEXT PRIMARY KEY REFERENCES devices (id),
    version TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    updated_at INTEGER NOT NULL
  );
`;

/** Where bundles are kept, under the hub's data directory. */
export const RELEASES_DIR = 'releases';

const STATUS = { 'not-found': 404, exists: 409, invalid: 400 } as const;

/** An expected refusal of the release store: answered by the API with its status (hub/http-errors.ts). */
export class ReleaseStoreError extends CodedError<keyof typeof STATUS> {
  override name = 'ReleaseStoreError';
  constructor(code: keyof typeof STATUS, message: string) {
    super(code, message, STATUS[code]);
  }
}

export interface ReleaseRow {
  version: string;
  platform: string;
  sha256: string;
  size: number;
  file: string;
  files: number;
  key_fingerprint: string;
  added_at: number;
}

export type RolloutSelection = { devices: string[] } | { percent: number } | { all: true };

export function bundlePath(version: string): string {
  return `/api/releases/${version}/bundle`;
}

/** The release target in a device's config, or undefined when none was rolled out to it. */
export function releaseTargetOf(db: Db, device: string): ReleaseTarget | undefined {
  const r = prepared<[string], { version: string; sha256: string; size: number }>(
    db,
    'SELECT r.version, r.sha256, r.size FROM release_targets t JOIN releases r ON r.version = t.version WHERE t.device = ?',
  ).get(device);
  return r ? { version: r.version, sha256: r.sha256, size: r.size, path: bundlePath(r.version) } : undefined;
}

/** The last update state a device reported (null: none yet). */
export function deviceUpdateOf(db: Db, device: string): (UpdateReport & { at: number }) | null {
  // Prepared once: the fleet list asks it for every device.
  const r = prepared<[string], { version: string; state: UpdateState; reason: string | null; updated_at: number }>(
    db,
    'SELECT version, state, reason, updated_at FROM device_updates WHERE device = ?',
  ).get(device);
  return r ? { version: r.version, state: r.state, ...(r.reason ? { reason: r.reason } : {}), at: r.updated_at } : null;
}

/** A stable place for each device in the staged rollout order: the same device is always as early. */
export function rolloutRank(device: string): string {
  return createHash('sha256').update(`haochaping-rollout\0${device}`).digest('hex');
}

/** How many of `n` devices `percent` means: at least one for any percent above zero. */
export function rolloutCount(n: number, percent: number): number {
  return percent <= 0 ? 0 : Math.min(n, Math.max(1, Math.ceil((n * percent) / 100 - 1e-9)));
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export class Releases {
  constructor(
    private readonly db: Db,
    private readonly dataDir: string,
    private readonly now: () => number = Date.now,
    /** Writes device status rows still waiting (DeviceStatusStore.flush): devices() reads them in SQL. */
    private readonly writeStatus: () => void = () => {},
  ) {}

  get(version: string): ReleaseRow | undefined {
    return this.db.prepare<[string], ReleaseRow>('SELECT * FROM releases WHERE version = ?').get(version);
  }

  list(): ReleaseRow[] {
    return this.db.prepare<[], ReleaseRow>('SELECT * FROM releases ORDER BY added_at, version').all();
  }

  /** The bundle file of a release on this hub's disk. */
  fileOf(r: ReleaseRow): string {
    return join(this.dataDir, RELEASES_DIR, r.file);
  }

  /**
   * Adds a bundle after checking it completely with the hub's pinned release key: signature,
   * every file's hash, no links. A refused bundle leaves nothing behind (its check runs in a
   * scratch directory; the copy is renamed into place only after the check and dropped if the
   * row cannot be written). The same bundle twice is fine; another bundle under a version the
   * hub has is refused.
   */
  async add(bundle: string, publicPem: string): Promise<{ release: ReleaseRow; added: boolean }> {
    const scratch = mkdtempSync(join(tmpdir(), 'hcp-hub-release-'));
    let placed: string | null = null;
    try {
      // Any platform: the hub holds the evaluators' (arm64) bundles whatever it runs on itself.
      const { manifest } = await unpackBundle(bundle, join(scratch, 'releases'), { publicPem, platform: null });
      const size = statSync(bundle).size;
      const sha256 = await fileSha256(bundle);
      const have = this.get(manifest.version);
      if (have) {
        if (have.sha256 === sha256) return { release: have, added: false };
        throw new ReleaseStoreError(
          'exists',
          `release ${manifest.version} is here already as another bundle (${have.sha256.slice(0, 12)}…): give a fix a new version`,
        );
      }
      const dir = join(this.dataDir, RELEASES_DIR);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      ownLikeDataDir(this.dataDir, dir);
      // The hash in the name: two bundles added at once under one version never overwrite each other.
      const name = `haochaping-${manifest.version}-${manifest.platform}-${sha256.slice(0, 12)}.tar.gz`;
      const tmp = join(dir, `.incoming-${randomBytes(6).toString('hex')}`);
      copyFileSync(bundle, tmp);
      // What was checked is what is kept: the copy must be the same bytes.
      if ((await fileSha256(tmp)) !== sha256) {
        rmSync(tmp, { force: true });
        throw new ReleaseStoreError('invalid', `${bundle} changed while it was being added; add it again`);
      }
      placed = join(dir, name);
      ownLikeDataDir(this.dataDir, tmp);
      renameSync(tmp, placed);
      fsyncPath(dir);
      // Check and write in one statement: of two `add`s at once, one row wins.
      const won = this.db
        .prepare(
          `INSERT INTO releases (version, platform, sha256, size, file, files, key_fingerprint, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (version) DO NOTHING RETURNING version`,
        )
        .get(
          manifest.version,
          manifest.platform,
          sha256,
          size,
          name,
          Object.keys(manifest.files).length,
          keyFingerprint(publicPem),
          this.now(),
        );
      const row = this.get(manifest.version)!;
      if (won || row.sha256 === sha256) placed = null; // ours, or the same bytes under the same name: keep
      if (!won && row.sha256 !== sha256)
        throw new ReleaseStoreError(
          'exists',
          `release ${manifest.version} was added meanwhile as another bundle (${row.sha256.slice(0, 12)}…)`,
        );
      return { release: row, added: !!won };
    } finally {
      if (placed) rmSync(placed, { force: true });
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /**
   * Sets `version` as the target of the selected devices, in one transaction with their config
   * versions. `percent` takes the first devices in a fixed order (a hash of the device id), so
   * a higher percent later only adds devices. Devices that already have this target are left
   * alone. Returns the devices whose config changed (the caller pushes their configs).
   */
  rollout(version: string, sel: RolloutSelection): { changed: string[]; targeted: number; devices: number } {
    return this.db.transaction(() => {
      if (!this.get(version)) throw new ReleaseStoreError('not-found', `no release ${version} on this hub (add it with "hub release add")`);
      const inService = this.db
        .prepare<[], { id: string }>('SELECT id FROM devices WHERE enrolled_at IS NOT NULL AND revoked_at IS NULL')
        .all()
        .map((r) => r.id);
      let chosen: string[];
      if ('all' in sel) chosen = inService;
      else if ('percent' in sel) {
        if (!(sel.percent >= 0 && sel.percent <= 100)) throw new ReleaseStoreError('invalid', 'percent must be between 0 and 100');
        const ordered = [...inService].sort((a, b) => (rolloutRank(a) < rolloutRank(b) ? -1 : 1));
        chosen = ordered.slice(0, rolloutCount(ordered.length, sel.percent));
      } else {
        const known = new Set(
          this.db
            .prepare<[], { id: string }>('SELECT id FROM devices')
            .all()
            .map((r) => r.id),
        );
        const unknown = sel.devices.filter((d) => !known.has(d));
        if (unknown.length) throw new ReleaseStoreError('not-found', `no device ${unknown.join(', ')}`);
        chosen = [...new Set(sel.devices)];
      }
      const set = this.db.prepare<[string, string, number], { device: string }>(
        `INSERT INTO release_targets (device, version, set_at) VALUES (?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET version = excluded.version, set_at = excluded.set_at WHERE release_targets.version <> excluded.version
         RETURNING device`,
      );
      const bump = this.db.prepare('UPDATE devices SET config_version = config_version + 1 WHERE id = ?');
      const changed: string[] = [];
      const at = this.now();
      for (const d of chosen) {
        if (!set.get(d, version, at)) continue;
        bump.run(d);
        changed.push(d);
      }
      const targeted = this.db
        .prepare<[string], { n: number }>('SELECT count(*) AS n FROM release_targets WHERE version = ?')
        .get(version)!.n;
      return { changed, targeted, devices: inService.length };
    })();
  }

  /** May this device download this release's bundle? Only the one it is targeted for. */
  mayDownload(device: string, version: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM release_targets WHERE device = ? AND version = ?').get(device, version);
  }

  /** Notes the update state of a status message. A last will repeats what was true at connect time: ignored. */
  onStatus(device: string, s: Status): void {
    if (s.state !== 'online' || !s.update) return;
    this.db
      .prepare(
        `INSERT INTO device_updates (device, version, state, reason, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET version = excluded.version, state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at
         WHERE device_updates.version <> excluded.version OR device_updates.state <> excluded.state OR coalesce(device_updates.reason, '') <> coalesce(excluded.reason, '')`,
      )
      .run(device, s.update.version, s.update.state, s.update.reason ?? null, this.now());
  }

  /** Per device: the release it runs (from its status), its target and its last update state. */
  devices(): { id: string; running: string | null; target: string | null; update: ReturnType<typeof deviceUpdateOf> }[] {
    this.writeStatus();
    const rows = this.db
      .prepare<[], { id: string; firmware: string | null; target: string | null }>(
        `SELECT d.id, json_extract(s.body, '$.firmware') AS firmware, t.version AS target
         FROM devices d LEFT JOIN device_status s ON s.device = d.id LEFT JOIN release_targets t ON t.device = d.id
         WHERE d.revoked_at IS NULL ORDER BY d.window, d.id`,
      )
      .all();
    return rows.map((r) => ({ id: r.id, running: runningVersion(r.firmware), target: r.target, update: deviceUpdateOf(this.db, r.id) }));
  }

  /** Devices per (version, update state), and per running version: what /metrics shows. */
  counts(): { states: { version: string; state: string; n: number }[]; running: { version: string; n: number }[] } {
    const states = this.db
      .prepare<[], { version: string; state: string; n: number }>(
        'SELECT version, state, count(*) AS n FROM device_updates GROUP BY version, state ORDER BY version, state',
      )
      .all();
    // What each device runs, without the rest of devices(): /metrics is scraped often (every
    // second during a bench), and an update lookup per device was ~5 % of the hub's time then.
    this.writeStatus();
    const running = new Map<string, number>();
    for (const { firmware } of prepared<[], { firmware: string | null }>(
      this.db,
      "SELECT json_extract(s.body, '$.firmware') AS firmware FROM devices d JOIN device_status s ON s.device = d.id WHERE d.revoked_at IS NULL",
    ).all()) {
      const v = runningVersion(firmware);
      if (v) running.set(v, (running.get(v) ?? 0) + 1);
    }
    return { states, running: [...running].map(([version, n]) => ({ version, n })) };
  }
}

/**
 * `hub release add` runs as root on the hall server; the hub runs as its own user: what root
 * writes into the data directory must belong to the data directory's owner, or the hub cannot
 * serve it.
 */
function ownLikeDataDir(dataDir: string, path: string): void {
  if (process.getuid?.() !== 0) return;
  const st = statSync(dataDir);
  chownSync(path, st.uid, st.gid);
}

/** `haochaping-device/1.2.3` → `1.2.3`. */
export function runningVersion(firmware: string | null): string | null {
  if (!firmware) return null;
  const i = firmware.lastIndexOf('/');
  return i < 0 ? firmware : firmware.slice(i + 1);
}
