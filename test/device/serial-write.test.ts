/**
 * How the serial display's frames reach the wire (device/serial/serial-line.ts `write`), on real
 * ptys joined by socat: written from the event loop straight to the port when nothing is queued
 * (issue 14: a thank-you frame no longer waits for a thread-pool worker), and through
 * serialport's queue, complete and in order, when the line is backed up. And how a keypad's
 * lines come in (device/serial/loop-read.ts): read from the event loop too.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, open, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerialDisplay } from '../../device/display/serial-display.js';
import type { Frame } from '../../device/display/types.js';
import { loopReadBinding } from '../../device/serial/loop-read.js';
import { SerialLine } from '../../device/serial/serial-line.js';
import { openHardwareEnd, ptyPair, type PtyPair } from '../helpers/pty.js';
import { sleep, waitFor } from '../helpers/wait.js';

const THANKS: Frame = { screen: 'thanks', text: '感谢您的评价', level: 5, ref: null, qr: null };

/** Reads the hardware end without serialport (whose reads also run on the thread pool). */
function rawReader(path: string): { text(): string; close(): void } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  let got = '';
  const buf = Buffer.alloc(65536);
  return {
    text() {
      for (;;) {
        try {
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n <= 0) return got;
          got += buf.toString('utf8', 0, n);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return got;
          throw e;
        }
      }
    },
    close: () => closeSync(fd),
  };
}

/**
 * Occupies every libuv thread-pool worker: opens of a FIFO for reading block (idle, no CPU) until
 * a writer opens it. More opens than workers, so whatever the pool size, all of them wait.
 */
function blockThreadPool(dir: string): { release(): Promise<void> } {
  const fifo = join(dir, 'pool-blocker');
  execFileSync('mkfifo', [fifo]);
  const opened: Promise<number>[] = [];
  for (let i = 0; i < 64; i++) opened.push(new Promise((res, rej) => open(fifo, 'r', (e, fd) => (e ? rej(e) : res(fd)))));
  return {
    async release() {
      const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK); // readers are waiting: succeeds
      for (const fd of await Promise.all(opened)) closeSync(fd);
      closeSync(w);
    },
  };
}

describe('serial display writes', () => {
  let dir: string;
  let pair: PtyPair;
  let display: SerialDisplay;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-serial-write-'));
    pair = await ptyPair(dir, 'display');
    display = new SerialDisplay({ path: pair.device, baudRate: 115200 });
    await display.start();
  });

  afterEach(async () => {
    await display.stop();
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts a frame on the line at once, even while every thread-pool worker is busy', async () => {
    const hw = rawReader(pair.hardware);
    const pool = blockThreadPool(dir);
    try {
      // The pool really is blocked: an fs call does not come back.
      const statDone = stat(dir).then(() => true);
      expect(await Promise.race([statDone, sleep(200).then(() => false)])).toBe(false);

      display.show(THANKS);
      const got = await waitFor(
        () => /FRAME 1 thanks\n[^]*END 1\n/.test(hw.text()) && hw.text(),
        'the thank-you frame on the line',
        3000,
        10,
      );
      expect(got).toContain('TEXT 感谢您的评价\nLEVEL 5\n');
    } finally {
      await pool.release();
      hw.close();
    }
  });

  it('sends frames complete and in order when the line is backed up (the rest waits in the queue)', async () => {
    const hw = await openHardwareEnd(pair.hardware, 115200);
    try {
      // Nobody drains the device end while socat is stopped: the kernel's buffers fill, writes
      // come back short or EAGAIN, and the rest must queue behind them.
      process.kill(pair.socat.pid!, 'SIGSTOP');
      const backlog = 3000; // ~100 bytes each: far more than a pty's buffers
      for (let i = 0; i < backlog; i++) display.show({ ...THANKS, ref: `R${i + 1}` });
      await sleep(100);
      process.kill(pair.socat.pid!, 'SIGCONT');
      // More frames while the queue drains and the kernel has room again: they must wait their turn.
      const n = backlog + 300;
      for (let i = backlog; i < n; i++) {
        await new Promise((r) => setImmediate(r));
        display.show({ ...THANKS, ref: `R${i + 1}` });
      }
      await waitFor(() => hw.lines.includes(`END ${n}`), `frame ${n} on the line`, 20_000);
      const frames = hw.lines.filter((l) => l.startsWith('FRAME '));
      expect(frames).toEqual(Array.from({ length: n }, (_, i) => `FRAME ${i + 1} thanks`));
      const refs = hw.lines.filter((l) => l.startsWith('REF '));
      expect(refs).toEqual(Array.from({ length: n }, (_, i) => `REF R${i + 1}`));
      expect(hw.lines.filter((l) => l.startsWith('END '))).toHaveLength(n);
    } finally {
      if (pair.socat.exitCode === null) process.kill(pair.socat.pid!, 'SIGCONT');
      await hw.close();
    }
  });
});

describe('serial reads', () => {
  let dir: string;
  let pair: PtyPair;
  let line: SerialLine;
  const lines: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-serial-read-'));
    pair = await ptyPair(dir, 'keypad');
    lines.length = 0;
    line = new SerialLine({ path: pair.device, baudRate: 115200, reopenMs: 100 });
    line.on('line', (l) => lines.push(l));
    await line.start(); // serialport opens the port on the thread pool: before it is blocked
  });

  afterEach(async () => {
    await line.stop();
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes a line off the wire at once, even while every thread-pool worker is busy', async () => {
    const hw = openSync(pair.hardware, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    writeSync(hw, 'K1\n');
    await waitFor(() => lines.length === 1, 'the first line', 3000, 10);
    const pool = blockThreadPool(dir);
    try {
      const statDone = stat(dir).then(() => true);
      expect(await Promise.race([statDone, sleep(200).then(() => false)])).toBe(false);

      writeSync(hw, 'K2\nK3\r\n');
      await waitFor(() => lines.length === 3, 'the lines written while the pool is busy', 3000, 10);
      expect(lines).toEqual(['K1', 'K2', 'K3']);
    } finally {
      await pool.release();
      closeSync(hw);
    }
  });

  it('a port that goes away under a waiting read is reported lost, and read again once it is back', async () => {
    const lost: string[] = [];
    line.on('lost', (r) => lost.push(r));
    await pair.close(); // the adapter is unplugged: the waiting read fails
    await waitFor(() => lost.length > 0, 'the line reported lost', 5000, 10);
    expect(line.isOpen).toBe(false);
    pair = await ptyPair(dir, 'keypad'); // plugged back in, at the same path
    await waitFor(() => line.isOpen, 'the line open again', 5000, 10);
    const hw = openSync(pair.hardware, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    try {
      writeSync(hw, 'K4\n');
      await waitFor(() => lines.includes('K4'), 'a line after the port came back', 3000, 10);
    } finally {
      closeSync(hw);
    }
  });
});

/** serialport's stream over the binding itself, without SerialLine's watchdog (which would also notice a port gone). */
describe('the event-loop read binding', () => {
  let dir: string;
  let pair: PtyPair;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-loop-read-'));
    pair = await ptyPair(dir, 'line');
  });

  afterEach(async () => {
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const openPort = async () => {
    const options = { path: pair.device, baudRate: 115200, autoOpen: false, binding: loopReadBinding };
    const port = new SerialPort(options);
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    return port;
  };

  it('a port whose far end goes away under a waiting read closes as disconnected', async () => {
    const port = await openPort();
    const closed = new Promise<Error | null>((res) => port.once('close', (e: Error | null) => res(e)));
    port.on('data', () => {});
    await sleep(50); // the read is waiting on the poller
    await pair.close();
    const e = await Promise.race([closed, sleep(3000).then(() => 'still open' as const)]);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error & { disconnected?: boolean }).disconnected).toBe(true);
  });

  it('closing the port under a waiting read is no error', async () => {
    const port = await openPort();
    const errors: Error[] = [];
    port.on('error', (e) => errors.push(e));
    port.on('data', () => {});
    await sleep(50);
    const closed = new Promise<Error | null>((res) => port.once('close', (e: Error | null) => res(e)));
    await new Promise<void>((res, rej) => port.close((e) => (e ? rej(e) : res())));
    expect(await closed).toBeFalsy();
    await sleep(50);
    expect(errors).toEqual([]);
  });

  // Reads that find bytes follow one another without a turn of the event loop; only a drained
  // line makes the read wait on the poller. Here `yes` keeps the line as full as a pty allows
  // (~30 MB/s read): a 10 ms timer ran 43 times in 500 ms. A read that waited for bytes without
  // the poller (a busy retry) never lets it run.
  it('a device that keeps the line full does not starve the event loop', async () => {
    const port = await openPort();
    let bytes = 0;
    port.on('data', (c: Buffer) => (bytes += c.length));
    // As fast as the pty takes it, for as long as the test reads.
    const flood = spawn('sh', ['-c', `exec yes K1 > '${pair.hardware}'`], { stdio: 'ignore' });
    try {
      await waitFor(() => bytes > 0, 'the first bytes', 3000, 10);
      // A 10 ms timer over half a second.
      let ticks = 0;
      const t = setInterval(() => ticks++, 10);
      await new Promise((r) => setTimeout(r, 500));
      clearInterval(t);
      expect(ticks).toBeGreaterThan(10);
      expect(bytes).toBeGreaterThan(100_000);
    } finally {
      flood.kill('SIGKILL');
      await new Promise<void>((res) => port.close(() => res()));
    }
  });
});
