/**
 * Spoken prompts. Clips are made by the real espeak-ng; playing goes through a fake `aplay` on
 * PATH (the lowest seam: a program), which logs when it started and how many records the
 * outbox file held at that moment. The thank-you must never be spoken before the rating is on
 * disk; no player (or no sound card) is the audio-lost fault while ratings go on.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { TeeDisplay } from '../../device/display/tee.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { OUTBOX_FILE } from '../../device/outbox/outbox.js';
import { buildClips, CLIP_TEXTS } from '../../device/voice/clips.js';
import { wavInfo } from '../../common/wav.js';
import { AUDIO_LOST, VoicePrompts, type VoiceSettings } from '../../device/voice/voice.js';
import type { RatingRecord } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';
import { offlineDevice } from '../helpers/offline-device.js';
import { waitFor } from '../helpers/wait.js';

const FAKE_APLAY_DIR = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/fake-aplay');
let clipDir: string;
let root: string;
const savedPath = process.env.PATH;

beforeAll(async () => {
  clipDir = mkdtempSync(join(tmpdir(), 'hcp-clips-'));
  await buildClips({ dir: clipDir });
}, 120_000);
afterAll(() => rmSync(clipDir, { recursive: true, force: true }));
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'hcp-voice-'));
});
afterEach(() => {
  process.env.PATH = savedPath;
  delete process.env.FAKE_APLAY_LOG;
  delete process.env.FAKE_APLAY_OUTBOX;
  delete process.env.FAKE_APLAY_FAIL;
  rmSync(root, { recursive: true, force: true });
});

describe('voice clips made with espeak-ng (Mandarin)', () => {
  it('every clip is a 16-bit mono PCM WAV of plausible length for its text', () => {
    for (const [name, text] of Object.entries(CLIP_TEXTS)) {
      const file = join(clipDir, `${name}.wav`);
      const info = wavInfo(readFileSync(file))!;
      expect(info, name).not.toBeNull();
      expect([info.channels, info.bitsPerSample, info.sampleRate]).toEqual([1, 16, 22050]);
      // Mandarin at 150 wpm: roughly 0.15–0.6 s per character, plus a little silence.
      const chars = [...text].filter((c) => /[\u4e00-\u9fff]/.test(c)).length;
      expect(info.seconds, `${name} (${chars} characters)`).toBeGreaterThan(chars * 0.12);
      expect(info.seconds, name).toBeLessThan(chars * 0.7 + 1.5);
      // sox reads the same length: the header is right.
      const sox = Number(execFileSync('sox', ['--i', '-D', file]).toString());
      expect(Math.abs(sox - info.seconds)).toBeLessThan(0.01);
    }
    expect(wavInfo(readFileSync(join(clipDir, 'thanks.wav')))!.seconds).toBeGreaterThan(1);
  });

  it('a clip already there (the hall’s own recording) is kept unless forced', async () => {
    const dir = join(root, 'own');
    mkdirSync(dir);
    writeFileSync(join(dir, 'thanks.wav'), readFileSync(join(clipDir, 'prompt.wav')));
    const built = await buildClips({ dir });
    expect(built.find((c) => c.name === 'thanks')!.kept).toBe(true);
    expect(readFileSync(join(dir, 'thanks.wav'))).toEqual(readFileSync(join(clipDir, 'prompt.wav')));
  }, 120_000);
});

/** A walk-up device (the prompt is always open) enrolled with a hub that is not there. */
const device = (dir: string, thanksS: number) => offlineDevice(dir, { timeouts: { thanksS } });

function fakeAplay(outbox?: string): string {
  const log = join(root, 'aplay.log');
  writeFileSync(log, '');
  process.env.PATH = `${FAKE_APLAY_DIR}:${savedPath}`;
  process.env.FAKE_APLAY_LOG = log;
  if (outbox) process.env.FAKE_APLAY_OUTBOX = outbox;
  return log;
}

const calls = (log: string) =>
  readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [at, rows, ...args] = l.split(' ');
      return {
        at: Number(at),
        rows: rows === '-' ? null : Number(rows),
        clips: args
          .filter((a) => a.endsWith('.wav'))
          .map((a) =>
            a
              .split('/')
              .pop()!
              .replace(/\.wav$/, ''),
          ),
        args,
      };
    });

async function agentWithVoice(settings: Partial<VoiceSettings> = {}, thanksS = 0.05) {
  // (A prompt that comes back cuts a clip still playing: a thank-you needs its time on screen.)
  const dir = await device(join(root, 'd'), thanksS);
  const voice = new VoicePrompts({ dir: clipDir, settings: () => settings, cacheDir: join(root, 'cache') });
  const virtual = new VirtualDisplay(1000);
  const buttons = new VirtualButtons(5, { debounceMs: 5, stuckMs: 200 });
  const agent = Agent.open({
    dataDir: dir,
    buttons,
    display: new TeeDisplay([virtual, voice]),
    log: silentLog(),
    clockSynced: () => true,
    tickMs: 20,
    link: { backoff: undefined },
  });
  const stored: { record: RatingRecord; at: number }[] = [];
  agent.on('stored', (record) => stored.push({ record, at: Date.now() }));
  return { dir, agent, buttons, virtual, voice, stored };
}

describe('spoken prompts through aplay', () => {
  it('the thank-you clip starts only after the rating is durably in the outbox', async () => {
    const d = await agentWithVoice({}, 2);
    const log = fakeAplay(join(d.dir, OUTBOX_FILE));
    await d.agent.start();
    try {
      for (let i = 0; i < 5; i++) {
        d.buttons.press(i % 2);
        await waitFor(() => calls(log).filter((c) => c.clips[0] === 'thanks').length === i + 1, `thank-you ${i + 1} spoken`, 10_000);
        await waitFor(() => d.virtual.current?.screen === 'prompt', 'back to the prompt', 5000);
      }
    } finally {
      await d.agent.stop();
    }
    const thanks = calls(log).filter((c) => c.clips[0] === 'thanks');
    expect(thanks).toHaveLength(5);
    thanks.forEach((c, i) => {
      // Read from the file by another process when aplay started: the record is there.
      expect(c.rows, `thank-you ${i + 1}`).toBeGreaterThanOrEqual(i + 1);
      expect(c.at).toBeGreaterThanOrEqual(d.stored[i]!.at);
    });
    // The prompt is spoken when it (re)opens.
    expect(calls(log).some((c) => c.clips[0] === 'prompt')).toBe(true);
  }, 90_000);

  it('with spoken options on, the prompt names every button with its meaning before anyone presses', async () => {
    const d = await agentWithVoice({ speakOptions: true, volume: 100 });
    const log = fakeAplay();
    await d.agent.start();
    try {
      await waitFor(() => calls(log).length > 0, 'the prompt to be spoken', 10_000);
    } finally {
      await d.agent.stop();
    }
    expect(calls(log)[0]!.clips).toEqual([
      'prompt',
      'key-1',
      'level-5',
      'key-2',
      'level-4',
      'key-3',
      'level-3',
      'key-4',
      'level-2',
      'key-5',
      'level-1',
    ]);
    // Hearing the options rates nothing.
    expect(d.stored).toHaveLength(0);
  });

  it('quiet mode says nothing; a lower volume plays a scaled copy of the clip', async () => {
    const quiet = new VoicePrompts({ dir: clipDir, settings: () => ({ quiet: true }) });
    const log = fakeAplay();
    await quiet.start();
    quiet.show({ screen: 'thanks', text: '感谢您的评价', level: 5, qr: null });
    await new Promise((r) => setTimeout(r, 300));
    expect(calls(log)).toHaveLength(0);
    await quiet.stop();

    const soft = new VoicePrompts({ dir: clipDir, settings: () => ({ volume: 25 }), cacheDir: join(root, 'cache') });
    await soft.start();
    soft.show({ screen: 'thanks', text: '感谢您的评价', level: 5, qr: null });
    await waitFor(() => calls(log).length === 1, 'the clip', 10_000);
    await soft.stop();
    const played = calls(log)[0]!.args.find((a) => a.endsWith('.wav'))!;
    expect(played).toContain(join(root, 'cache'));
    const orig = readFileSync(join(clipDir, 'thanks.wav'));
    const scaled = readFileSync(played);
    const info = wavInfo(orig)!;
    let peakO = 0;
    let peakS = 0;
    for (let i = info.dataOffset; i + 1 < info.dataOffset + info.dataBytes; i += 2) {
      peakO = Math.max(peakO, Math.abs(orig.readInt16LE(i)));
      peakS = Math.max(peakS, Math.abs(scaled.readInt16LE(i)));
    }
    expect(peakS / peakO).toBeCloseTo(0.25, 2);
  });

  it('no aplay on PATH: audio-lost, and ratings go on being stored and thanked', async () => {
    const d = await agentWithVoice();
    const empty = join(root, 'empty-bin');
    mkdirSync(empty);
    process.env.PATH = empty;
    await d.agent.start();
    try {
      for (let i = 0; i < 3; i++) {
        d.buttons.press(0);
        await waitFor(() => d.stored.length === i + 1, `rating ${i + 1} stored`, 5000);
        await waitFor(() => d.virtual.current?.screen === 'prompt', 'back to the prompt', 5000);
      }
      await waitFor(() => d.agent.faults.has(AUDIO_LOST), 'the audio-lost fault', 5000);
      expect(d.agent.status().faults).toContain(AUDIO_LOST);
      expect(d.virtual.frames.filter((f) => f.screen === 'thanks')).toHaveLength(3);
    } finally {
      await d.agent.stop();
    }
  });

  it('a sound card that fails (aplay exits with an error) is audio-lost, cleared when playing works again', async () => {
    const v = new VoicePrompts({ dir: clipDir });
    const faults: string[] = [];
    const cleared: string[] = [];
    v.on('fault', (f) => faults.push(f));
    v.on('recover', (f) => cleared.push(f));
    const log = fakeAplay();
    process.env.FAKE_APLAY_FAIL = '1';
    await v.start();
    v.show({ screen: 'thanks', text: '感谢您的评价', level: 5, qr: null });
    await waitFor(() => faults.includes(AUDIO_LOST), 'audio-lost', 5000);
    delete process.env.FAKE_APLAY_FAIL;
    v.show({ screen: 'thanks', text: '感谢您的评价', level: 5, qr: null });
    await waitFor(() => cleared.includes(AUDIO_LOST), 'the fault to clear', 5000);
    await v.stop();
    expect(existsSync(log)).toBe(true);
  });
});
