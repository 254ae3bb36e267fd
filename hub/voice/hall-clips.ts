/**
 * The hall's own voice recordings (issue 10): hall IT uploads a WAV per clip name to the hub;
 * the hub keeps it (by its SHA-256) and names it in every device's config (`voiceClips`, a
 * hall-wide setting, so the usual config push reaches every device); each device then fetches
 * it with its own credentials and plays it instead of its espeak-ng clip. A device can only
 * fetch a recording the hall's settings name now.
 */
import { createHash } from 'node:crypto';
import { CodedError } from '../../common/errors.js';
import { wavInfo } from '../../common/wav.js';
import { VOICE_CLIP_NAMES, type VoiceClipName } from '../../protocol/index.js';
import type { HallOps } from '../ops.js';
import type { Registry } from '../registry/registry.js';
import type { Db } from '../store/db.js';

export const VOICE_CLIPS_MIGRATION = `
  -- The hall's own recordings, by content: a clip name points at one through hall_settings.voiceClips.
  CREATE TABLE voice_clips (
    sha256 TEXT PRIMARY KEY,
    wav BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    seconds REAL NOT NULL,
    added_at INTEGER NOT NULL
  );
`;

/** A recording longer or larger than this is not a prompt (and would take a Pi long to fetch). */
export const MAX_CLIP_BYTES = 1024 * 1024;
export const MAX_CLIP_SECONDS = 20;

const STATUS = { 'unknown-clip': 404, 'not-found': 404, 'not-wav': 415, 'too-long': 413 } as const;

export class VoiceClipError extends CodedError<keyof typeof STATUS> {
  constructor(code: keyof typeof STATUS, message: string) {
    super(code, message, STATUS[code]);
  }
}

export interface HallClip {
  name: VoiceClipName;
  sha256: string;
  bytes: number;
  seconds: number;
  addedAt: number;
}

export class HallVoiceClips {
  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly ops: HallOps,
    private readonly now: () => number = Date.now,
  ) {}

  static isName(name: string): name is VoiceClipName {
    return (VOICE_CLIP_NAMES as readonly string[]).includes(name);
  }

  /** The hall's recordings by clip name. */
  list(): HallClip[] {
    const named = this.registry.hallSettings().voiceClips ?? {};
    const info = this.db.prepare<[string], { bytes: number; seconds: number; added_at: number }>(
      'SELECT bytes, seconds, added_at FROM voice_clips WHERE sha256 = ?',
    );
    return VOICE_CLIP_NAMES.flatMap((name) => {
      const sha256 = named[name];
      const row = sha256 ? info.get(sha256) : undefined;
      return sha256 && row ? [{ name, sha256, bytes: row.bytes, seconds: row.seconds, addedAt: row.added_at }] : [];
    });
  }

  /**
   * Checks and keeps a recording and names it for `name` in the hall's settings (every device's
   * config changes and is pushed). Returns the recording and how many devices got a new config.
   */
  set(name: string, wav: Buffer): { clip: HallClip; devices: number } {
    if (!HallVoiceClips.isName(name))
      throw new VoiceClipError('unknown-clip', `no clip "${name}"; the clips are ${VOICE_CLIP_NAMES.join(', ')}`);
    const info = wavInfo(wav);
    if (!info) throw new VoiceClipError('not-wav', 'not a PCM WAV file (RIFF/WAVE with a fmt and a data chunk)');
    if (wav.length > MAX_CLIP_BYTES || info.seconds > MAX_CLIP_SECONDS)
      throw new VoiceClipError(
        'too-long',
        `a clip may be at most ${MAX_CLIP_SECONDS} s and ${MAX_CLIP_BYTES} bytes (this is ${info.seconds.toFixed(1)} s, ${wav.length} bytes)`,
      );
    const sha256 = createHash('sha256').update(wav).digest('hex');
    const at = this.now();
    const changed = this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO voice_clips (sha256, wav, bytes, seconds, added_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING')
        .run(sha256, wav, wav.length, info.seconds, at);
      const s = this.registry.hallSettings();
      return this.ops.setHallSettings({ ...s, voiceClips: { ...s.voiceClips, [name]: sha256 } });
    })();
    return { clip: this.list().find((c) => c.name === name)!, devices: changed.length };
  }

  /** Back to the devices' own clip for `name`. The recording is forgotten once no name points at it. */
  remove(name: string): { devices: number } {
    if (!HallVoiceClips.isName(name)) throw new VoiceClipError('unknown-clip', `no clip "${name}"`);
    return this.db.transaction(() => {
      const s = this.registry.hallSettings();
      if (!s.voiceClips?.[name]) throw new VoiceClipError('not-found', `the hall has no recording for "${name}"`);
      const { [name]: _gone, ...rest } = s.voiceClips;
      const changed = this.ops.setHallSettings({ ...s, voiceClips: Object.keys(rest).length ? rest : undefined });
      const used = new Set(Object.values(rest));
      for (const { sha256 } of this.db.prepare<[], { sha256: string }>('SELECT sha256 FROM voice_clips').all())
        if (!used.has(sha256)) this.db.prepare('DELETE FROM voice_clips WHERE sha256 = ?').run(sha256);
      return { devices: changed.length };
    })();
  }

  /** The WAV of a recording the hall's settings name now, or null (a device may fetch nothing else). */
  wav(sha256: string): Buffer | null {
    if (!Object.values(this.registry.hallSettings().voiceClips ?? {}).includes(sha256)) return null;
    return this.db.prepare<[string], { wav: Buffer }>('SELECT wav FROM voice_clips WHERE sha256 = ?').get(sha256)?.wav ?? null;
  }
}
