import { EdgeButtonDriver } from './edge-driver.js';
import type { EdgeTiming } from './types.js';

/** The IO plugin johnny-five talks to: a firmata-io Board, or mock-firmata in tests. */
export interface FirmataIo {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  isReady?: boolean;
}

export interface FirmataButtonsOptions extends EdgeTiming {
  /** Digital pins of the board, one per button, left to right. */
  pins: number[];
  /** The serial port of the board (e.g. /dev/ttyACM0), when no `io` is given. */
  path?: string;
  baudRate?: number;
  /** An IO plugin ready to use (tests pass mock-firmata's Firmata). */
  io?: FirmataIo;
  /** How long to wait for the board to answer. */
  readyTimeoutMs?: number;
}

export const FIRMATA_LOST = 'firmata-lost';

/**
 * Buttons on a microcontroller running StandardFirmata (an Arduino Nano or Pico on USB), through
 * johnny-five. Pins use the board's internal pull-up (pressed reads low). johnny-five's Button
 * already filters a few ms of chatter; its press/release still go through the shared debouncer,
 * so stuck-button detection and the debounce time are the same as on every other driver.
 */
export class FirmataButtons extends EdgeButtonDriver {
  readonly name = 'firmata';
  private board: unknown = null;
  private port: { isOpen: boolean; close(cb: () => void): void } | null = null;

  constructor(private readonly o: FirmataButtonsOptions) {
    super(o.pins.length, o);
  }

  async start(): Promise<void> {
    const five = (await import('johnny-five')).default;
    let io = this.o.io;
    if (!io) {
      if (!this.o.path) throw new Error("the Firmata driver needs the board's serial port (--firmata-port)");
      const [{ SerialPort }, firmataIo] = await Promise.all([import('serialport'), import('firmata-io')]);
      this.port = new SerialPort({ path: this.o.path, baudRate: this.o.baudRate ?? 57600 });
      io = new firmataIo.default.Firmata(this.port) as FirmataIo;
    }
    const board = new five.Board({
      io,
      repl: false,
      debug: false,
      timeout: Math.round((this.o.readyTimeoutMs ?? 10_000) / 1000),
    } as unknown as ConstructorParameters<typeof five.Board>[0]);
    this.board = board;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `the Firmata board${this.o.path ? ` on ${this.o.path}` : ''} did not answer within ${this.o.readyTimeoutMs ?? 10_000} ms`,
            ),
          ),
        this.o.readyTimeoutMs ?? 10_000,
      );
      board.on('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
    board.on('exit', () => this.emit('fault', FIRMATA_LOST, 'the Firmata board went away'));
    io.on('close', () => this.emit('fault', FIRMATA_LOST, "the Firmata board's port closed"));
    this.running = true;
    this.o.pins.forEach((pin, i) => {
      const b = new five.Button({ pin, board, isPullup: true } as ConstructorParameters<typeof five.Button>[0]);
      b.on('press', () => this.lines.edge(i, true));
      b.on('release', () => this.lines.edge(i, false));
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.lines.stop();
    this.board = null;
    const p = this.port;
    this.port = null;
    if (p?.isOpen) await new Promise<void>((res) => p.close(() => res()));
  }
}
