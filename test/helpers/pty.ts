import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { waitFor } from './wait.js';

/**
 * Two real ptys joined by socat: what the device opens at one end behaves like a serial port
 * with real termios behind the real serialport binding, and the test plays the hardware at the
 * other end.
 */
export interface PtyPair {
  /** The end the device driver opens. */
  device: string;
  /** The end the test (the keypad MCU, the display controller) uses. */
  hardware: string;
  socat: ChildProcess;
  close(): Promise<void>;
}

export async function ptyPair(dir: string, name: string): Promise<PtyPair> {
  const device = join(dir, `${name}-device`);
  const hardware = join(dir, `${name}-hw`);
  const socat = spawn('socat', [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${hardware}`], { stdio: 'ignore' });
  await waitFor(() => existsSync(device) && existsSync(hardware), `socat to make ${device}`, 5000, 10);
  return {
    device,
    hardware,
    socat,
    close: async () => {
      if (socat.exitCode !== null || socat.signalCode !== null) return;
      const done = new Promise((r) => socat.once('exit', r));
      socat.kill('SIGTERM');
      await done;
    },
  };
}

/** Opens the hardware end as a serial port and collects the lines the device writes to it. */
export async function openHardwareEnd(
  path: string,
  baudRate = 115200,
): Promise<{ port: SerialPort; lines: string[]; write(s: string): Promise<void>; close(): Promise<void> }> {
  const port = new SerialPort({ path, baudRate });
  await new Promise<void>((res, rej) => port.once('open', res).once('error', rej));
  const lines: string[] = [];
  let buf = '';
  port.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
    }
  });
  return {
    port,
    lines,
    write: (s) => new Promise((res, rej) => port.write(s, (e) => (e ? rej(e) : port.drain(() => res())))),
    close: () => new Promise((res) => (port.isOpen ? port.close(() => res()) : res())),
  };
}
