import type { Logger } from 'pino';
import { EdgeButtonDriver } from './edge-driver.js';
import type { EdgeTiming } from './types.js';
import { SerialLine } from '../serial/serial-line.js';

export interface SerialKeypadOptions extends EdgeTiming {
  path: string;
  baudRate?: number;
  /** Buttons on the keypad, numbered 1..count on the wire. */
  count: number;
  log?: Logger;
  reopenMs?: number;
  /** This many garbage lines in a row raise the "keypad-garbage" fault (usually a wrong baud rate). */
  garbageFaultAfter?: number;
}

export const KEYPAD_LOST = 'keypad-lost';
export const KEYPAD_GARBAGE = 'keypad-garbage';

/**
 * A keypad or small MCU on a serial line (USB adapter or the Pi's UART). The line protocol
 * (hardware-notes.md, "Serial keypad protocol"), ASCII, one message per line, "\n" or "\r\n":
 *
 *   D<n>       button n (1-based) went down   — raw contact edges; debounced here
 *   U<n>       button n went up
 *   K<n>       one whole press of button n    — for keypads that debounce themselves
 *   HB         heartbeat (optional)
 *   ID <text>  the keypad says what it is (logged)
 *
 * Anything else is rejected and counted (keypadGarbage); a run of garbage raises a fault.
 */
export class SerialKeypad extends EdgeButtonDriver {
  readonly name = 'serial';
  private readonly serial: SerialLine;
  private garbageRun = 0;
  private garbageFault = false;
  private lost = false;

  constructor(private readonly o: SerialKeypadOptions) {
    super(o.count, o);
    this.serial = new SerialLine({ path: o.path, baudRate: o.baudRate ?? 9600, reopenMs: o.reopenMs, maxLine: 64 });
    this.serial.on('line', (l) => this.onLine(l));
    this.serial.on('lost', (reason) => {
      o.log?.warn({ reason }, 'serial keypad lost');
      if (!this.lost) this.emit('fault', KEYPAD_LOST, reason);
      this.lost = true;
    });
    this.serial.on('open', () => {
      if (this.lost) this.emit('recover', KEYPAD_LOST);
      this.lost = false;
    });
  }

  async start(): Promise<void> {
    this.running = true;
    await this.serial.start();
  }

  private onLine(line: string): void {
    const m = /^([DUK])([1-9]\d?)$/.exec(line) ?? (/^(HB)$/.exec(line) as RegExpExecArray | null) ?? /^(ID) (.{1,60})$/.exec(line);
    const button = m && m[1] !== 'HB' && m[1] !== 'ID' ? Number(m[2]) - 1 : null;
    if (!m || (button !== null && button >= this.count)) return this.garbage(line);
    this.garbageRun = 0;
    if (this.garbageFault) {
      this.garbageFault = false;
      this.emit('recover', KEYPAD_GARBAGE);
    }
    if (m[1] === 'ID') return void this.o.log?.info({ keypad: m[2] }, 'serial keypad identified');
    if (button === null) return;
    if (m[1] === 'K') {
      if (this.running) this.emit('press', button);
    } else this.lines.edge(button, m[1] === 'D');
  }

  private garbage(line: string): void {
    this.emit('count', 'keypadGarbage');
    this.o.log?.debug({ line: line.slice(0, 64) }, 'rejected a line from the serial keypad');
    if (++this.garbageRun >= (this.o.garbageFaultAfter ?? 10) && !this.garbageFault) {
      this.garbageFault = true;
      this.emit('fault', KEYPAD_GARBAGE, `${this.garbageRun} unreadable lines in a row from ${this.o.path}: check the baud rate`);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.lines.stop();
    await this.serial.stop();
  }
}
