/**
 * The hall's own recordings (issue 10): hall IT uploads a WAV for a clip with
 * `haochaping hub voice set`; the hub names it in every device's config; a `device run`
 * process fetches it from the hub with its own credentials and speaks it (through a fake
 * `aplay` on PATH, the lowest seam) instead of its own clip; `hub voice rm` goes back.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hallClipFile } from '../../device/voice/hall-clips.js';
import { VOICE_CLIP_NAMES } from '../../protocol/index.js';
import { CLI_PATH, spawnCli, stopProcess } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { openHardwareEnd, ptyPair } from '../helpers/pty.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const FAKE_APLAY_DIR = join(import.meta.dirname, '../fixtures/fake-aplay');

/** A 16-bit mono PCM WAV of `seconds` of a tone (what a hall's recording looks like to the hub). */
function toneWav(seconds: number, hz = 440, rate = 16_000): Buffer {
  const n = Math.round(seconds * rate);
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + i * 2);
  return b;
}

const tmp = mkdtempSync(join(tmpdir(), 'hcp-hall-voice-'));
let hall: TestHall;
beforeAll(async () => {
  hall = await TestHall.start();
});
afterAll(async () => {
  await hall?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const hubCli = (...args: string[]) =>
  exec(process.execPath, [CLI_PATH, 'hub', 'voice', ...args, '--hub', hall.hubUrl, '--token', hall.adminToken!]).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe("the hall's own voice recordings", () => {
  it('uploaded on the hub, fetched by a running device with its own credentials and spoken instead of its clip; removed, the device speaks its own again', async () => {
    const { dir } = await hall.enrolDevice('07');
    const voiceDir = join(tmp, 'voice');
    mkdirSync(voiceDir);
    for (const name of VOICE_CLIP_NAMES) writeFileSync(join(voiceDir, `${name}.wav`), toneWav(0.3, 300));
    const aplayLog = join(tmp, 'aplay.log');
    writeFileSync(aplayLog, '');
    const kp = await ptyPair(tmp, 'kp');
    const keypad = await openHardwareEnd(kp.hardware, 9600);
    const agent = spawnCli(
      [
        'device',
        'run',
        '--data',
        dir,
        '--buttons',
        'serial',
        '--keypad-port',
        kp.device,
        '--display',
        'virtual',
        '--voice-dir',
        voiceDir,
        '--log-level',
        'warn',
      ],
      join(tmp, 'agent.log'),
      { PATH: `${FAKE_APLAY_DIR}:${process.env.PATH}`, FAKE_APLAY_LOG: aplayLog },
    );
    const spoken = () => readFileSync(aplayLog, 'utf8').trim().split('\n').filter(Boolean);
    // On a failure, what the agent logged and what aplay was asked to play say why.
    const explain = async (p: Promise<unknown>) =>
      p.catch((e: Error) => {
        throw new Error(
          `${e.message}\nagent log:\n${readFileSync(join(tmp, 'agent.log'), 'utf8').slice(-3000)}\naplay:\n${spoken().join('\n')}`,
        );
      });
    try {
      await waitFor(() => spoken().some((l) => l.includes('/prompt.wav')), 'the walk-up prompt spoken with its own clip', 20_000);

      const recording = toneWav(1.2, 660);
      const sha = createHash('sha256').update(recording).digest('hex');
      writeFileSync(join(tmp, 'thanks-recorded.wav'), recording);
      const set = await hubCli('set', 'thanks', join(tmp, 'thanks-recorded.wav'));
      expect(set.err).toBe('');
      expect(set.out).toMatch(/^thanks: 1\.2 s recording set; \d+ device config\(s\) pushed/);
      expect(JSON.parse((await hubCli('list', '--json')).out).clips).toEqual([
        expect.objectContaining({ name: 'thanks', sha256: sha, bytes: recording.length }),
      ]);

      await waitFor(() => existsSync(hallClipFile(voiceDir, sha)), "the device fetched the hall's recording", 20_000);
      expect(readFileSync(hallClipFile(voiceDir, sha))).toEqual(recording);
      const prompts = () => spoken().filter((l) => l.includes('/prompt.wav')).length;
      const promptsBefore = prompts();
      await keypad.write('K1\n');
      await explain(waitFor(() => spoken().some((l) => l.includes(`hall-${sha}.wav`)), 'the thank-you spoken from the recording', 20_000));
      expect(spoken().filter((l) => l.includes('/thanks.wav'))).toEqual([]);

      // Removed: the device forgets the file and its own clip speaks again.
      expect((await hubCli('rm', 'thanks')).out).toMatch(/^thanks: recording removed/);
      await waitFor(() => !existsSync(hallClipFile(voiceDir, sha)), 'the device to forget the recording', 20_000);
      await waitFor(() => prompts() > promptsBefore, 'the prompt again after the thank-you', 20_000);
      await keypad.write('K2\n');
      await waitFor(() => spoken().some((l) => /\/thanks\.wav/.test(l)), "the thank-you spoken from the device's own clip", 20_000);
      expect(await stopProcess(agent, 'SIGTERM')).toBe(0);
    } finally {
      await stopProcess(agent, 'SIGKILL');
      await keypad.close();
      await kp.close();
    }
  }, 150_000);

  it('a device fetches only with its own id and secret, and only a recording the hall names now', async () => {
    const { id, dir } = await hall.enrolDevice('08');
    const password = (JSON.parse(readFileSync(join(dir, 'enrolment.json'), 'utf8')) as { password: string }).password;
    const recording = toneWav(0.5);
    const sha = createHash('sha256').update(recording).digest('hex');
    const put = await fetch(`${hall.hubUrl}/api/voice/clips/prompt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${hall.adminToken}`, 'content-type': 'audio/wav' },
      body: recording,
    });
    expect(put.status).toBe(200);
    expect(hall.hub!.registry.config(hall.hub!.registry.get(id)!).voiceClips).toEqual({ prompt: sha });
    const url = `${hall.hubUrl}/api/device/voice/${sha}`;
    const ok = await fetch(url, { headers: basic(id, password) });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(recording);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: basic(id, 'wrong-secret') })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${hall.adminToken}` } })).status).toBe(401);
    const other = createHash('sha256').update('not named').digest('hex');
    expect((await fetch(`${hall.hubUrl}/api/device/voice/${other}`, { headers: basic(id, password) })).status).toBe(404);
    await hubCli('rm', 'prompt');
    expect((await fetch(url, { headers: basic(id, password) })).status).toBe(404);
  }, 60_000);

  it('refuses what is not a prompt recording, with a clear line: an unknown clip, not a WAV, too long, no admin token', async () => {
    writeFileSync(join(tmp, 'long.wav'), toneWav(25));
    writeFileSync(join(tmp, 'notes.txt'), 'RIFF but not really');
    const unknown = await hubCli('set', 'welcome', join(tmp, 'long.wav'));
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/welcome/);
    const notWav = await hubCli('set', 'thanks', join(tmp, 'notes.txt'));
    expect(notWav.err).toMatch(/not a PCM WAV file/);
    const long = await hubCli('set', 'thanks', join(tmp, 'long.wav'));
    expect(long.err).toMatch(/at most 20 s .* \(this is 25\.0 s/);
    const missing = await hubCli('set', 'thanks', join(tmp, 'nope.wav'));
    expect(missing.err).toMatch(/cannot read .*nope\.wav/);
    for (const r of [unknown, notWav, long, missing]) expect(r.err).not.toMatch(/\n\s+at /); // one line, no stack trace
    const viewer = await fetch(`${hall.hubUrl}/api/voice/clips/thanks`, {
      method: 'PUT',
      headers: { 'content-type': 'audio/wav' },
      body: toneWav(0.5),
    });
    expect(viewer.status).toBe(401);
    expect(JSON.parse((await hubCli('list', '--json')).out).clips).toEqual([]);
  }, 120_000);
});
