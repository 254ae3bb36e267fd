/**
 * The device's fleet updater. The hub names a release in the device's config; this fetches the
 * bundle from the hub with the device's own credentials, checks it with the release key PINNED
 * on this device at install (never a key from the hub or MQTT), unpacks it beside the running
 * release, switches `current` with a probation deadline (ReleaseSlots) and asks to be restarted.
 * The new release confirms itself once it is healthy; if it does not in time, or crashes at
 * start, the launcher goes back to the previous release, which reports the update rolled back.
 *
 * Every step survives a SIGKILL: the download goes to `<data>/update/<sha256>.part` and resumes
 * with a Range request; unpacking happens in a scratch directory renamed into place; the switch
 * is a rename of links; the state reported to the hub is a file written atomically.
 * Ratings go on all the while: the download is a stream, hashing yields, tar runs in a child.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../common/atomic-file.js';
import { readSignedManifest, unpackBundle } from '../../common/release/bundle.js';
import { compareVersions, ReleaseError } from '../../common/release/manifest.js';
import type { ReleaseSlots } from '../../common/release/slots.js';
import { ReleaseTargetSchema, UpdateReportSchema, type ReleaseTarget, type UpdateReport } from '../../protocol/index.js';

export const UPDATE_DIR = 'update';
const STATE_FILE = 'state.json';

/** What the updater remembers across restarts: what it last reported, and targets it gave up on. */
const StateSchema = z.object({
  report: UpdateReportSchema.nullable(),
  /** A bundle refused for good (bad signature, downgrade …): not fetched again until the target changes. */
  refused: z.object({ sha256: z.string(), version: z.string() }).nullable().default(null),
});
type State = z.infer<typeof StateSchema>;

export interface UpdaterOptions {
  dataDir: string;
  /** The hub's HTTP(S) address and this device's credentials (from enrolment). */
  hub: { url: string; username: string; password: string; ca: string | null };
  log: Logger;
  /** The slots of the installed release this runs from; null in a development checkout (no updates). */
  slots: ReleaseSlots | null;
  /** The release public key pinned at install (PEM), or null if there is none (no updates). */
  releaseKey: string | null;
  currentVersion: string;
  allowDowngrade?: boolean;
  /** How long a new release has to prove itself healthy. */
  probationS?: number;
  /** The reported state changed: publish a status. */
  onChange: () => void;
  /** A new release is current: stop cleanly and exit, so systemd (the launcher) starts it. */
  restart: (why: string) => void;
  /** After a failed download, wait this long before the next try (doubling up to 64×). */
  retryMs?: number;
  now?: () => number;
}

class TransientError extends Error {}

export class Updater {
  private state: State = { report: null, refused: null };
  private target: ReleaseTarget | null = null;
  private busy = false;
  private stopped = false;
  private started = false;
  private retry: NodeJS.Timeout | null = null;
  private probation: NodeJS.Timeout | null = null;
  private failures = 0;
  private readonly dir: string;
  private readonly now: () => number;

  /** Builds the updater; reads and writes nothing until start(). */
  constructor(private readonly o: UpdaterOptions) {
    this.dir = join(o.dataDir, UPDATE_DIR);
    this.now = o.now ?? Date.now;
  }

  /** Reads what it remembers, and what the launcher left for this start (a rollback, or probation). */
  start(): void {
    this.started = true;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    let raw: unknown = null;
    try {
      raw = readJsonFile(join(this.dir, STATE_FILE));
    } catch {
      raw = null; // torn by nothing (atomic writes), but never let it stop the agent
    }
    const parsed = StateSchema.safeParse(raw ?? { report: null });
    this.state = parsed.success ? parsed.data : { report: null, refused: null };
    this.boot();
  }

  /** What the status message carries. */
  get report(): UpdateReport | null {
    return this.state.report;
  }

  private save(report: UpdateReport | null, refused: State['refused'] = this.state.refused): void {
    this.state = { report, refused };
    writeFileAtomic(join(this.dir, STATE_FILE), JSON.stringify(this.state), 0o600);
    this.o.onChange();
  }

  private set(state: UpdateReport['state'], version: string, reason?: string): void {
    const r = this.state.report;
    if (r && r.state === state && r.version === version && r.reason === reason) return;
    this.o.log[state === 'failed' || state === 'rolled-back' ? 'error' : 'info'](
      { step: state, version, reason },
      `update ${version}: ${state}${reason ? ` (${reason})` : ''}`,
    );
    this.save({ state, version, ...(reason ? { reason: reason.slice(0, 300) } : {}) });
  }

  /** What the launcher left for this start: a rollback to report, or this release on probation. */
  private boot(): void {
    const slots = this.o.slots;
    if (!slots) return;
    const failed = slots.failed();
    if (failed) {
      // Noted first, cleared after: a kill in between reports it once more, never not at all.
      this.set('rolled-back', failed.version, failed.reason);
      slots.clearFailed();
    }
    const pending = slots.pending();
    if (pending && pending.version === this.o.currentVersion) {
      this.set('installed', pending.version, 'on probation until healthy');
      const left = Math.max(0, pending.deadline * 1000 - this.now());
      // Running but never healthy (no hub, a display that does not start): exit at the deadline;
      // the launcher sees it passed and goes back to the previous release.
      this.probation = setTimeout(() => {
        this.o.log.error(
          { version: pending.version },
          'the new release did not become healthy by its deadline: exiting so the launcher rolls back',
        );
        this.o.restart('not healthy by its deadline');
      }, left + 1000);
      this.probation.unref();
    } else if (this.state.report?.state === 'installed' && this.state.report.version === this.o.currentVersion) {
      // Confirmed before a kill took the report with it.
      this.set('active', this.o.currentVersion);
    }
  }

  /** The agent is healthy: connected to the hub, outbox open, buttons and display started. */
  healthy(): void {
    const slots = this.o.slots;
    if (!slots || !this.probation) return;
    const pending = slots.pending();
    clearTimeout(this.probation);
    this.probation = null;
    if (pending?.version !== this.o.currentVersion) return;
    slots.confirm();
    this.o.log.info({ version: this.o.currentVersion }, 'the new release is healthy: probation over');
    this.set('active', this.o.currentVersion);
    // The bundle it came from is not needed any more (a kill may have left it).
    for (const n of readdirSync(this.dir)) if (n !== STATE_FILE) rmSync(join(this.dir, n), { force: true });
    this.kick();
  }

  /** The release the hub's config names (undefined: none). */
  setTarget(t: ReleaseTarget | undefined): void {
    const parsed = t ? ReleaseTargetSchema.safeParse(t) : null;
    this.target = parsed?.success ? parsed.data : null;
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.probation) clearTimeout(this.probation);
  }

  private kick(): void {
    if (!this.started || this.busy || this.stopped || this.retry) return;
    this.busy = true;
    this.work()
      .catch((e: unknown) => this.o.log.error({ err: (e as Error).message }, 'update step failed'))
      .finally(() => {
        this.busy = false;
      });
  }

  private async work(): Promise<void> {
    const t = this.target;
    const { slots, currentVersion } = this.o;
    if (!t || t.version === currentVersion) return;
    if (this.probation) return; // one update at a time: this release proves itself first
    if (this.state.refused?.sha256 === t.sha256) return;
    const r = this.state.report;
    // A release that was rolled back here is not tried again: hall IT rolls out a fixed one.
    if (r?.version === t.version && r.state === 'rolled-back') return;
    if (!slots)
      return this.refuse(
        t,
        'not-installed',
        'this agent does not run from an installed release (/opt/haochaping), so it cannot update itself',
        false,
      );
    if (!this.o.releaseKey)
      return this.refuse(t, 'no-release-key', 'no release public key is pinned on this device (/etc/haochaping/release.pub)', false);
    if (!this.o.allowDowngrade && compareVersions(t.version, currentVersion) < 0)
      return this.refuse(
        t,
        'downgrade',
        `${t.version} is older than the running ${currentVersion} (a downgrade must be allowed on the device)`,
      );

    try {
      this.set('downloading', t.version);
      const file = await this.download(t);
      if (this.target?.sha256 !== t.sha256 || this.stopped) return this.kickLater(0);
      this.set('verifying', t.version);
      // The signature first (a foreign bundle is refused before anything is unpacked) …
      const { manifest } = await readSignedManifest(file, this.o.releaseKey);
      if (manifest.version !== t.version)
        throw new ReleaseError('malformed', `the bundle is release ${manifest.version}, not the ${t.version} the hub named`);
      // … then every file against its hash, in a scratch directory renamed into releases/<version>.
      this.o.log.info({ step: 'unpacking', version: t.version }, 'unpacking and checking every file');
      await unpackBundle(file, slots.releasesDir, { publicPem: this.o.releaseKey, currentVersion, allowDowngrade: this.o.allowDowngrade });
      if (this.stopped) return;
      const deadline = Math.floor(this.now() / 1000) + (this.o.probationS ?? 300);
      this.o.log.info({ step: 'switching', version: t.version, deadline }, 'switching to the new release');
      slots.switchTo(t.version, { deadline });
      this.set('installed', t.version, 'switched; restarting into it');
      rmSync(file, { force: true });
      slots.prune(); // keep current and previous only
      this.o.restart(`release ${t.version} installed`);
    } catch (e) {
      if (e instanceof ReleaseError) return this.refuse(t, e.reason, e.message);
      this.failures++;
      const wait = Math.min(64, 2 ** (this.failures - 1)) * (this.o.retryMs ?? 5000);
      this.o.log.warn({ err: (e as Error).message, retryInMs: wait }, 'update step failed; trying again');
      this.set('downloading', t.version, `retrying: ${(e as Error).message}`);
      this.kickLater(wait);
    }
  }

  private kickLater(ms: number): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.kick();
    }, ms);
    this.retry.unref();
  }

  /**
   * Refused: the device keeps its version. A bundle refused for what it is (`final`) is not
   * fetched again until the hub names another; one refused for what this device lacks (no
   * pinned key, not installed) is tried again at the next start, once hall IT has fixed that.
   */
  private refuse(t: ReleaseTarget, reason: string, message: string, final = true): void {
    rmSync(join(this.dir, `${t.sha256}.part`), { force: true });
    rmSync(join(this.dir, `${t.sha256}.bundle`), { force: true });
    if (final) this.state.refused = { sha256: t.sha256, version: t.version };
    this.set('failed', t.version, `${reason}: ${message}`);
  }

  /** Fetches the bundle into `<data>/update/<sha256>.bundle`, resuming a partial download. */
  private async download(t: ReleaseTarget): Promise<string> {
    const done = join(this.dir, `${t.sha256}.bundle`);
    if (existsSync(done)) return done;
    // Leftovers of other targets go.
    for (const n of readdirSync(this.dir)) if (n !== STATE_FILE && !n.startsWith(t.sha256)) rmSync(join(this.dir, n), { force: true });
    const part = join(this.dir, `${t.sha256}.part`);
    let have = existsSync(part) ? statSync(part).size : 0;
    if (have > t.size) {
      rmSync(part);
      have = 0;
    }
    if (have < t.size) {
      const res = await this.get(t.path, have);
      if (res.statusCode !== 200 && res.statusCode !== 206) {
        res.resume();
        throw new TransientError(`the hub answered ${res.statusCode} for ${t.path}`);
      }
      if (res.statusCode === 200) have = 0; // the hub started from the beginning
      const fd = openSync(part, have === 0 ? 'w' : 'a', 0o600);
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          if (have + chunk.byteLength > t.size) {
            res.destroy();
            rmSync(part, { force: true });
            throw new TransientError(`the download is larger than the announced ${t.size} bytes`);
          }
          let off = 0;
          while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
          have += chunk.byteLength;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (have !== t.size) throw new TransientError(`the download ended after ${have} of ${t.size} bytes`);
    }
    const h = createHash('sha256');
    for await (const chunk of createReadStream(part)) h.update(chunk as Buffer);
    if (h.digest('hex') !== t.sha256) {
      rmSync(part, { force: true });
      throw new TransientError('the download does not match the hash the hub announced; fetching it again');
    }
    renameSync(part, done);
    return done;
  }

  private get(path: string, from: number): Promise<IncomingMessage> {
    const url = new URL(path, this.o.hub.url);
    const https = url.protocol === 'https:';
    const auth = Buffer.from(`${this.o.hub.username}:${this.o.hub.password}`).toString('base64');
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: 'GET',
          headers: { authorization: `Basic ${auth}`, ...(from > 0 ? { range: `bytes=${from}-` } : {}) },
          ...(https && this.o.hub.ca ? { ca: this.o.hub.ca } : {}),
          timeout: 30_000,
        },
        resolve,
      );
      req.on('timeout', () => req.destroy(new TransientError('the hub did not answer in 30 s')));
      req.on('error', reject);
      req.end();
    });
  }
}

/** Reads the pinned release key, or null if this device has none. */
export function readPinnedKey(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
