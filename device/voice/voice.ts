/**
 * Spoken prompts through `aplay` (alsa-utils), as one more listener on the agent's frames: the
 * prompt when a session opens, the reasons prompt when the reasons page first shows, the
 * thank-you — which the agent shows only after the rating is durably in the outbox, so it is
 * never spoken for a record that is not on disk — and out of service. Playing never blocks
 * anything: aplay runs as a child process, a newer clip cuts off an older one.
 *
 * For citizens who cannot read the panel the hall can turn on `speakOptions`: after the prompt
 * each button is named with its meaning ("按一键，非常满意 …") before anyone presses
 * (hardware-notes.md, "Accessibility"). No audio device, or no player → the `audio-lost`
 * fault; the rating flow is not affected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DisplayDriver, Frame, Screen } from '../display/types.js';
import { scaledWav } from './clips.js';
import { hallClipFile } from './hall-clips.js';

export const AUDIO_LOST = 'audio-lost';
export const VOICE_CLIPS_MISSING = 'voice-clips-missing';

/** Per-window settings from the hub (DeviceConfig.voice). */
export interface VoiceSettings {
  /** 0–100 percent of the clip's level. */
  volume: number;
  /** Say nothing at all (a window beside a quiet room, after hours). */
  quiet: boolean;
  /** After the prompt, name every button with its meaning. */
  speakOptions: boolean;
}
export const DEFAULT_VOICE: VoiceSettings = { volume: 80, quiet: false, speakOptions: false };

export interface VoiceOptions {
  /** Where the clips are (`haochaping device voice build --dir`). */
  dir: string;
  /** The player: "aplay" on PATH by default. */
  aplay?: string;
  /** ALSA device (aplay -D), e.g. "plughw:1,0" for a USB speaker. */
  alsaDevice?: string;
  /** The window's current settings; undefined → defaults. */
  settings?: () => Partial<VoiceSettings> | null | undefined;
  /** The hall's own recordings the config names (clip name → SHA-256), played where they are on the device. */
  hallClips?: () => Partial<Record<string, string>> | null | undefined;
  /** Where volume-scaled copies of the clips are cached. */
  cacheDir?: string;
  log?: Logger;
}

export class VoicePrompts
  extends EventEmitter<{ fault: [string]; recover: [string]; played: [{ clips: string[]; at: number }] }>
  implements DisplayDriver
{
  readonly name = 'voice';
  private last: Screen | null = null;
  private child: ChildProcess | null = null;
  private running = false;
  private lost = false;
  private missing = false;

  constructor(private readonly o: VoiceOptions) {
    super();
  }

  async start(): Promise<void> {
    this.running = true;
  }

  show(frame: Frame): void {
    const prev = this.last;
    this.last = frame.screen;
    if (!this.running) return;
    const s = { ...DEFAULT_VOICE, ...(this.o.settings?.() ?? {}) };
    if (s.quiet || s.volume <= 0) return;
    let clips: string[] = [];
    switch (frame.screen) {
      case 'prompt':
        if (prev !== 'prompt')
          clips = ['prompt', ...(s.speakOptions ? frame.levels.flatMap((l) => [`key-${l.button + 1}`, `level-${l.level}`]) : [])];
        break;
      case 'reasons':
        if (prev !== 'reasons') clips = ['reasons'];
        break;
      case 'thanks':
        clips = ['thanks'];
        break;
      case 'out-of-service':
        if (prev !== 'out-of-service') clips = ['out-of-service'];
        break;
      default:
        // A prompt that timed out or was cancelled: stop talking.
        this.cut();
    }
    if (clips.length) this.play(clips, s.volume);
  }

  /** The hall's recording of a clip if it is on the device, else the device's own clip. */
  private source(name: string): { file: string; key: string } | null {
    const sha = this.o.hallClips?.()?.[name];
    if (sha && existsSync(hallClipFile(this.o.dir, sha))) return { file: hallClipFile(this.o.dir, sha), key: `hall-${sha}` };
    const own = join(this.o.dir, `${name}.wav`);
    return existsSync(own) ? { file: own, key: name } : null;
  }

  private file(name: string, volume: number): string | null {
    const found = this.source(name);
    if (!found) return null;
    const src = found.file;
    if (volume >= 100) return src;
    const dir = join(this.o.cacheDir ?? join(tmpdir(), 'haochaping-voice'), `v${Math.round(volume)}`);
    const out = join(dir, `${found.key}.wav`);
    if (!existsSync(out)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${out}.tmp`, scaledWav(readFileSync(src), volume));
      renameSync(`${out}.tmp`, out);
    }
    return out;
  }

  private cut(): void {
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }

  private play(names: string[], volume: number): void {
    let files: string[];
    try {
      files = names.map((n) => this.file(n, volume)).filter((f): f is string => f !== null);
    } catch (e) {
      this.o.log?.warn({ err: (e as Error).message }, 'cannot prepare voice clips');
      files = [];
    }
    if (files.length < names.length) {
      if (!this.missing) {
        this.missing = true;
        this.o.log?.warn({ dir: this.o.dir }, 'voice clips missing: run "haochaping device voice build"');
        this.emit('fault', VOICE_CLIPS_MISSING);
      }
      if (!files.length) return;
    } else if (this.missing) {
      this.missing = false;
      this.emit('recover', VOICE_CLIPS_MISSING);
    }
    this.cut();
    const args = ['-q', ...(this.o.alsaDevice ? ['-D', this.o.alsaDevice] : []), ...files];
    const child = spawn(this.o.aplay ?? 'aplay', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.emit('played', { clips: names, at: Date.now() });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-300)));
    child.on('error', (e) => this.audioLost(e.message));
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = null;
      if (signal) return; // cut off by a newer clip, or stopped
      if (code === 0) return this.audioBack();
      this.audioLost(stderr.trim() || `exit ${code}`);
    });
  }

  private audioLost(detail: string): void {
    if (this.lost) return;
    this.lost = true;
    this.o.log?.warn({ detail: detail.slice(0, 200) }, 'audio lost: prompts are not spoken; ratings go on');
    this.emit('fault', AUDIO_LOST);
  }

  private audioBack(): void {
    if (!this.lost) return;
    this.lost = false;
    this.emit('recover', AUDIO_LOST);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.cut();
  }
}
