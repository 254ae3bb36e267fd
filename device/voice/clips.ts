/**
 * The spoken clips: WAV files made from text by Debian's espeak-ng with its Mandarin voice
 * (`haochaping device voice build`), or the hall's own recordings put in the same directory
 * under the same names (a file already there is kept unless --force).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LEVEL_LABELS, type Level } from '../../protocol/index.js';

const run = promisify(execFile);

/** Where the agent looks for clips by default. */
export const DEFAULT_CLIP_DIR = '/var/lib/haochaping/voice';

const DIGITS = ['一', '二', '三', '四', '五'];

/** Clip name → what it says. */
export const CLIP_TEXTS: Record<string, string> = {
  prompt: '请您对本次服务作出评价',
  thanks: '感谢您的评价',
  reasons: '请选择不满意的原因，选好后按最右边的确认键',
  'out-of-service': '设备暂停使用，请联系工作人员',
  // For citizens who cannot read the panel: "key N" and each level, played as "按一键，非常满意…".
  ...Object.fromEntries(DIGITS.map((d, i) => [`key-${i + 1}`, `按${d}键`])),
  ...Object.fromEntries(([5, 4, 3, 2, 1] as Level[]).map((l) => [`level-${l}`, LEVEL_LABELS[l].zh])),
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

export interface WavInfo {
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Offset and length of the PCM samples. */
  dataOffset: number;
  dataBytes: number;
  seconds: number;
}

/** The format of a RIFF/WAVE PCM file, or null if it is not one. */
export function wavInfo(buf: Buffer): WavInfo | null {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') return null;
  let fmt: { channels: number; sampleRate: number; bits: number; format: number } | null = null;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && body + 16 <= buf.length)
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    if (id === 'data' && fmt) {
      // espeak-ng writing to a pipe leaves the size at 0x7fffffff: take what is there.
      if (body + size > buf.length) size = buf.length - body;
      if (fmt.format !== 1 || !fmt.channels || !fmt.sampleRate || !fmt.bits) return null;
      return {
        channels: fmt.channels,
        sampleRate: fmt.sampleRate,
        bitsPerSample: fmt.bits,
        dataOffset: body,
        dataBytes: size,
        seconds: size / (fmt.sampleRate * fmt.channels * (fmt.bits / 8)),
      };
    }
    off = body + size + (size & 1);
  }
  return null;
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
