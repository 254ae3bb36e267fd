/**
 * Keeps the hall's own recordings on the device: whatever the config's `voiceClips` names is
 * fetched from the hub (device/link/hub-http.ts) into `<voice dir>/hall/<sha256>.wav`, checked
 * against its SHA-256 and as a WAV, and then played instead of the espeak-ng clip of that name
 * (VoicePrompts). Until a recording is here — the hub unreachable, a fetch failed — the device's
 * own clip is spoken: the prompt never waits for a download, and a rating never does.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { wavInfo } from '../../common/wav.js';
import type { DeviceConfig } from '../../protocol/index.js';
import { fetchVerified, type HubHttpTarget } from '../link/hub-http.js';
import { Backoff } from '../../common/backoff.js';

/** The hub refuses larger recordings (hub/voice/hall-clips.ts). */
const MAX_BYTES = 1024 * 1024;

export type HallClipMap = NonNullable<DeviceConfig['voiceClips']>;

/** Where the hall's recording with this hash is kept, under the voice directory. */
export const hallClipFile = (voiceDir: string, sha256: string) => join(voiceDir, 'hall', `${sha256}.wav`);

export class HallClipSync {
  private wanted: HallClipMap = {};
  private running = false;
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;

  constructor(private readonly o: { dir: string; hub: HubHttpTarget; log?: Logger; retry?: { baseMs: number; maxMs: number } }) {
    this.backoff = new Backoff(o.retry?.baseMs ?? 2_000, o.retry?.maxMs ?? 300_000);
  }

  /** The recordings the current config names; fetches what is missing, forgets what is no longer named. */
  set(clips: HallClipMap | undefined): void {
    this.wanted = clips ?? {};
    this.running = true;
    this.backoff.reset();
    void this.sync();
  }

  /** How many named recordings are not on the device yet. */
  missing(): string[] {
    return Object.values(this.wanted).filter((sha) => !existsSync(hallClipFile(this.o.dir, sha)));
  }

  private async sync(): Promise<void> {
    if (this.busy || !this.running) return;
    this.busy = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let failed = false;
    try {
      mkdirSync(join(this.o.dir, 'hall'), { recursive: true });
      for (const sha of new Set(this.missing())) {
        if (!this.running) return;
        try {
          const wav = await fetchVerified(this.o.hub, `/api/device/voice/${sha}`, hallClipFile(this.o.dir, sha), sha, MAX_BYTES);
          if (!wavInfo(wav)) {
            rmSync(hallClipFile(this.o.dir, sha), { force: true });
            throw new Error('not a PCM WAV file');
          }
          this.o.log?.info({ sha256: sha, bytes: wav.length }, "fetched one of the hall's voice recordings");
        } catch (e) {
          failed = true;
          this.o.log?.warn(
            { sha256: sha, err: (e as Error).message },
            "cannot fetch one of the hall's voice recordings; the device's own clip is spoken meanwhile",
          );
        }
      }
      const named = new Set(Object.values(this.wanted).map((sha) => `${sha}.wav`));
      for (const f of readdirSync(join(this.o.dir, 'hall'))) if (!named.has(f)) rmSync(join(this.o.dir, 'hall', f), { force: true });
    } catch (e) {
      failed = true;
      this.o.log?.warn({ err: (e as Error).message }, "cannot keep the hall's voice recordings");
    } finally {
      this.busy = false;
    }
    if (failed && this.running) {
      this.timer = setTimeout(() => void this.sync(), this.backoff.next());
      this.timer.unref();
    } else this.backoff.reset();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
