/**
 * The spoken clips: WAV files made from text by Debian's espeak-ng with its Mandarin voice
 * (`haochaping device voice build`), or the hall's own recordings put in the same directory
 * under the same names (a file already there is kept unless --force).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LEVEL_LABELS, type VoiceClipName } from '../../protocol/index.js';
import { wavInfo } from '../../common/wav.js';

const run = promisify(execFile);

/** Where the agent looks for clips by default. */
export const DEFAULT_CLIP_DIR = '/var/lib/haochaping/voice';

/** Clip name → what it says. */
export const CLIP_TEXTS: Record<VoiceClipName, string> = {
  prompt: '请您对本次服务作出评价',
  thanks: '感谢您的评价',
  reasons: '请选择不满意的原因，选好后按最右边的确认键',
  'out-of-service': '设备暂停使用，请联系工作人员',
  // For citizens who cannot read the panel: "key N" and each level, played as "按一键，非常满意…".
  'key-1': '按一键',
  'key-2': '按二键',
  'key-3': '按三键',
  'key-4': '按四键',
  'key-5': '按五键',
  'level-5': LEVEL_LABELS[5].zh,
  'level-4': LEVEL_LABELS[4].zh,
  'level-3': LEVEL_LABELS[3].zh,
  'level-2': LEVEL_LABELS[2].zh,
  'level-1': LEVEL_LABELS[1].zh,
};

export interface BuildOptions {
  dir: string;
  espeak?: string;
  /** espeak-ng voice: Mandarin is "cmn". */
  voice?: string;
  /** Words per minute; a little slower than espeak's 175 for a noisy hall. */
  speed?: number;
  /** Overwrite clips that are already there (the hall's own recordings are otherwise kept). */
  force?: boolean;
}

export interface BuiltClip {
  name: string;
  file: string;
  text: string;
  bytes: number;
  kept: boolean;
}

export async function buildClips(o: BuildOptions): Promise<BuiltClip[]> {
  mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  const espeak = o.espeak ?? 'espeak-ng';
  await run(espeak, ['--version']).catch((e: Error) => {
    throw new Error(`cannot run ${espeak} (${e.message}); install Debian's "espeak-ng" package`);
  });
  const out: BuiltClip[] = [];
  for (const [name, text] of Object.entries(CLIP_TEXTS)) {
    const file = join(o.dir, `${name}.wav`);
    if (existsSync(file) && !o.force) {
      out.push({ name, file, text, bytes: statSync(file).size, kept: true });
      continue;
    }
    // Written beside, then renamed: a player never opens a half-written clip.
    const tmp = `${file}.tmp`;
    await run(espeak, ['-v', o.voice ?? 'cmn', '-s', String(o.speed ?? 150), '-w', tmp, text], { timeout: 60_000 });
    const info = wavInfo(readFileSync(tmp));
    if (!info) throw new Error(`${espeak} wrote something that is not a PCM WAV file for "${name}"`);
    renameSync(tmp, file);
    out.push({ name, file, text, bytes: statSync(file).size, kept: false });
  }
  writeFileSync(join(o.dir, 'clips.json'), JSON.stringify(Object.fromEntries(out.map((c) => [c.name, c.text])), null, 2) + '\n');
  return out;
}

/** A copy of a 16-bit PCM WAV with every sample scaled to `volume` percent (aplay has no volume). */
export function scaledWav(buf: Buffer, volume: number): Buffer {
  const info = wavInfo(buf);
  if (!info || info.bitsPerSample !== 16) return buf;
  const out = Buffer.from(buf);
  const k = Math.max(0, Math.min(100, volume)) / 100;
  for (let i = info.dataOffset; i + 1 < info.dataOffset + info.dataBytes; i += 2) out.writeInt16LE(Math.round(buf.readInt16LE(i) * k), i);
  return out;
}
