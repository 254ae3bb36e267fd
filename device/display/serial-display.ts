import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { SerialLine } from '../serial/serial-line.js';
import { ACTION_LABELS } from './terminal.js';
import type { DisplayDriver, Frame } from './types.js';

export interface SerialDisplayOptions {
  path: string;
  baudRate?: number;
  log?: Logger;
  reopenMs?: number;
  /** Once the controller has acknowledged frames, this long without an ACK is a fault. */
  ackTimeoutMs?: number;
}

export const DISPLAY_LOST = 'display-lost';
export const DISPLAY_SILENT = 'display-silent';

/** One field on one line: no line breaks, no "|" (the field separator). */
const field = (s: string | null | undefined) => (s ?? '-').replace(/[\r\n\t]+/g, ' ').replace(/\|/g, '｜') || '-';

/**
 * The lines of one frame in the display controller protocol (hardware-notes.md, "Serial
 * display protocol"). Buttons are numbered from 1 on the wire, as on the device's labels.
 */
export function frameLines(n: number, f: Frame): string[] {
  const out = [`FRAME ${n} ${f.screen}`];
  switch (f.screen) {
    case 'idle':
      out.push(`WINDOW ${field(f.window)}|${field(f.windowName)}`);
      out.push(f.staff ? `STAFF ${field(f.staff.id)}|${field(f.staff.name)}|${field(f.staff.number)}|${field(f.staff.photo)}` : 'STAFF -');
      break;
    case 'prompt':
      out.push(`TEXT ${field(f.text)}`);
      if (f.staff) out.push(`STAFF ${field(f.staff.id)}|${field(f.staff.name)}|${field(f.staff.number)}|${field(f.staff.photo)}`);
      if (f.cases.length) out.push(`CASES ${f.cases.map(field).join(',')}`);
      for (const l of f.levels) out.push(`OPT ${l.button + 1} L${l.level} ${field(l.label)}`);
      if (f.qr) out.push(`QR ${field(f.qr)}`);
      break;
    case 'reasons':
      out.push(`TEXT ${field(f.text)}`, `LEVEL ${f.level}`, `PAGE ${f.page + 1}/${f.pages}`);
      for (const o of f.options) {
        if (o.reason) out.push(`OPT ${o.button + 1} ${o.selected ? 'R+' : 'R-'} ${o.reason.code} ${field(o.reason.text)}`);
        else if (o.action) out.push(`OPT ${o.button + 1} ${o.action.toUpperCase()} ${ACTION_LABELS[o.action]}`);
        else out.push(`OPT ${o.button + 1} NONE`);
      }
      if (f.qr) out.push(`QR ${field(f.qr)}`);
      break;
    case 'thanks':
      out.push(`TEXT ${field(f.text)}`);
      if (f.level !== null) out.push(`LEVEL ${f.level}`);
      if (f.ref) out.push(`REF ${field(f.ref)}`);
      if (f.qr) out.push(`QR ${field(f.qr)}`);
      break;
    case 'paused':
      out.push(`TEXT ${field(f.text)}`);
      break;
    case 'out-of-service':
      out.push(`TEXT ${field(f.text)}`, `FAULT ${field(f.fault)}`);
      break;
  }
  out.push(`END ${n}`);
  return out;
}

/**
 * An e-ink or LCD panel behind a small MCU on a serial line. Each frame goes out as a block
 * of lines (frameLines); the controller answers "ACK <n>" once it has drawn frame n, and
 * "HELLO <model>" when it (re)boots, which makes the driver send the current frame again. The
 * current frame is also resent whenever the port comes back. A controller that stopped
 * acknowledging raises "display-silent"; a lost port raises "display-lost".
 */
export class SerialDisplay extends EventEmitter<{ fault: [string]; recover: [string] }> implements DisplayDriver {
  readonly name = 'serial';
  private readonly serial: SerialLine;
  private n = 0;
  private current: Frame | null = null;
  private acked = 0;
  private sentAt = 0;
  private acking = false;
  private silent = false;
  private lost = false;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(private readonly o: SerialDisplayOptions) {
    super();
    this.serial = new SerialLine({ path: o.path, baudRate: o.baudRate ?? 115200, reopenMs: o.reopenMs, maxLine: 128 });
    this.serial.on('line', (l) => this.onLine(l));
    this.serial.on('open', () => {
      if (this.lost) this.emit('recover', DISPLAY_LOST);
      this.lost = false;
      if (this.current) this.send(this.current);
    });
    this.serial.on('lost', (reason) => {
      if (!this.lost) {
        o.log?.warn({ reason }, 'display controller lost');
        this.emit('fault', DISPLAY_LOST);
      }
      this.lost = true;
    });
  }

  async start(): Promise<void> {
    await this.serial.start();
    this.watchdog = setInterval(() => this.checkAcks(), 1000);
    this.watchdog.unref();
  }

  show(frame: Frame): void {
    this.current = frame;
    this.send(frame);
  }

  private send(frame: Frame): void {
    const n = ++this.n;
    if (this.serial.write(frameLines(n, frame).join('\n')) && this.sentAt === 0) this.sentAt = Date.now();
  }

  private onLine(line: string): void {
    const ack = /^ACK (\d+)$/.exec(line);
    if (ack) {
      this.acked = Math.max(this.acked, Number(ack[1]));
      this.acking = true;
      if (this.acked >= this.n) this.sentAt = 0;
      if (this.silent) {
        this.silent = false;
        this.emit('recover', DISPLAY_SILENT);
      }
      return;
    }
    if (/^HELLO\b/.test(line)) {
      this.o.log?.info({ controller: line.slice(6, 70) }, 'display controller (re)started');
      if (this.current) this.send(this.current);
      return;
    }
    if (/^ERR\b/.test(line)) this.o.log?.warn({ line: line.slice(0, 128) }, 'display controller reported an error');
  }

  private checkAcks(): void {
    if (!this.acking || this.silent || this.sentAt === 0 || this.acked >= this.n) return;
    if (Date.now() - this.sentAt > (this.o.ackTimeoutMs ?? 5000)) {
      this.silent = true;
      this.emit('fault', DISPLAY_SILENT);
    }
  }

  async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    await this.serial.drain();
    await this.serial.stop();
  }
}
