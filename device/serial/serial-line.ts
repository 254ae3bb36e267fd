import { EventEmitter } from 'node:events';
import { statSync, writeSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { ReadlineParser } from '@serialport/parser-readline';
import { SerialPort } from 'serialport';
import { loopReadBinding } from './loop-read.js';

export interface SerialLineOptions {
  path: string;
  baudRate: number;
  /** Longer lines are cut and handed on as they are (the protocol layer rejects them). */
  maxLine?: number;
  /** How often to try to open the port again after it was lost. */
  reopenMs?: number;
}

export interface SerialLineEvents {
  line: [line: string];
  open: [];
  /** The port failed to open or went away; it is reopened every reopenMs. */
  lost: [reason: string];
}

/** Cuts runs of bytes without a newline at `max`, so garbage cannot grow a buffer without bound. */
class LineGuard extends Transform {
  private run = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === 0x0a) this.run = 0;
      else if (++this.run > this.max) {
        this.push(chunk.subarray(start, i));
        this.push(Buffer.from('\n'));
        start = i;
        this.run = 1;
      }
    }
    this.push(chunk.subarray(start));
    cb();
  }
}

/**
 * A serial port spoken line by line (UTF-8, "\n" or "\r\n"), through `serialport` and
 * `@serialport/parser-readline`, that opens again by itself when a USB adapter is unplugged
 * and plugged back. Shared by the serial keypad and the serial display controller.
 */
export class SerialLine extends EventEmitter<SerialLineEvents> {
  private port: SerialPort | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly o: SerialLineOptions) {
    super();
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  /** Resolves once the first open attempt is over (open or not: a missing port is retried). */
  start(): Promise<void> {
    this.running = true;
    return this.open();
  }

  private open(): Promise<void> {
    return new Promise((resolve) => {
      // SerialPort spreads its options over its detected binding, so this one is used; its types leave the option out.
      const options = { path: this.o.path, baudRate: this.o.baudRate, autoOpen: false, binding: loopReadBinding };
      const port = new SerialPort(options);
      this.port = port;
      port.open((err) => {
        if (err) {
          this.lost(port, `cannot open ${this.o.path}: ${err.message}`);
          return resolve();
        }
        if (!this.running) {
          port.close(() => {});
          return resolve();
        }
        const parser = port.pipe(new LineGuard(this.o.maxLine ?? 256)).pipe(new ReadlineParser({ delimiter: '\n', encoding: 'utf8' }));
        parser.on('data', (l: string) => this.emit('line', l.replace(/\r$/, '')));
        port.on('close', () => this.lost(port, `${this.o.path} closed`));
        port.on('error', (e) => this.lost(port, `${this.o.path}: ${e.message}`));
        this.watch(port);
        this.emit('open');
        resolve();
      });
    });
  }

  /**
   * An unplugged adapter does not always make the open port fail (a read may just see EOF), but
   * its device node (or /dev/serial/by-id link) goes away: check it every second.
   */
  private watch(port: SerialPort): void {
    const rdev = () => {
      try {
        return statSync(this.o.path).rdev;
      } catch {
        return null;
      }
    };
    const first = rdev();
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = setInterval(
      () => {
        if (this.port !== port) return;
        if (rdev() !== first) this.lost(port, `${this.o.path} is gone (unplugged?)`);
      },
      Math.min(1000, this.o.reopenMs ?? 1000),
    );
    this.watchdog.unref();
  }

  private lost(port: SerialPort, reason: string): void {
    if (this.port !== port) return;
    this.port = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    if (port.isOpen) port.close(() => {});
    if (!this.running) return;
    this.emit('lost', reason);
    if (!this.reopenTimer) {
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = null;
        if (this.running) void this.open();
      }, this.o.reopenMs ?? 2000);
    }
  }

  /**
   * Writes one line; false when the port is not open (the caller decides what that means).
   *
   * When nothing is queued the bytes go straight to the port's descriptor from the event loop
   * (serialport opens it non-blocking, so this never waits): serialport's own write is an
   * `fs.write` on libuv's thread pool, so a thank-you frame waited for a worker thread to be
   * woken and scheduled — on a busy 2-core machine 0.1–0.7 ms at the median and several ms at
   * p99, and for as long as the pool is busy with anything else (issue 14). Whatever does not
   * fit in the kernel's buffer, and anything written while earlier bytes are still queued, goes
   * through serialport's queue as before, so lines keep their order; a write error also takes
   * that path, where the stream reports it (the port is then lost and reopened).
   */
  write(line: string): boolean {
    const p = this.port;
    if (!p?.isOpen) return false;
    const data = Buffer.from(line + '\n', 'utf8');
    const fd = (p.port as { fd?: unknown } | undefined)?.fd;
    let sent = 0;
    if (typeof fd === 'number' && p.writableLength === 0) {
      try {
        sent = writeSync(fd, data);
      } catch {
        sent = 0; // EAGAIN (buffer full) or a real error: serialport's write waits or reports it
      }
    }
    if (sent < data.length) p.write(sent ? data.subarray(sent) : data);
    return true;
  }

  /** Waits until what was written has left for the device. */
  drain(): Promise<void> {
    const p = this.port;
    if (!p?.isOpen) return Promise.resolve();
    return new Promise((res) => p.drain(() => res()));
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.reopenTimer = this.watchdog = null;
    const p = this.port;
    this.port = null;
    if (p?.isOpen) await new Promise<void>((res) => p.close(() => res()));
  }
}
