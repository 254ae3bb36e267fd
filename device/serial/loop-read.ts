import { readSync } from 'node:fs';
import { SerialPort } from 'serialport';

type Binding = typeof SerialPort.binding;

/** What a Linux or macOS port binding of `@serialport/bindings-cpp` has (Windows has no fd: left as it is). */
interface UnixPort {
  fd: number | null;
  readonly isOpen: boolean;
  poller: { once(event: 'readable', cb: (err: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

const isUnixPort = (p: unknown): p is UnixPort =>
  typeof (p as UnixPort).fd === 'number' && typeof (p as UnixPort).poller?.once === 'function';

/** The error serialport's stream takes as "the port was closed under the read", not as a disconnect. */
const canceled = () => Object.assign(new Error('Port is not open'), { canceled: true });

/**
 * Reads the port from the event loop: a non-blocking read(2) as soon as the poller (epoll, as
 * serialport's own) says bytes are there. serialport's read is an `fs.read` on libuv's thread
 * pool, so every keypad press and every display ACK waited for a worker thread to be woken and
 * scheduled, and its answer for the loop to be woken again: the same hop the writes no longer
 * take (serial-line.ts). Everything else — open, termios, close, the poller — is serialport's;
 * errors keep its meaning (EAGAIN waits, a closed port cancels, the rest disconnects).
 */
function readOnTheLoop(port: UnixPort): void {
  const readable = () => new Promise<void>((resolve, reject) => port.poller.once('readable', (err) => (err ? reject(err) : resolve())));
  port.read = async (buffer, offset, length) => {
    for (;;) {
      if (!port.isOpen || port.fd === null) throw canceled();
      let bytesRead = 0;
      try {
        bytesRead = readSync(port.fd, buffer, offset, length, null);
      } catch (e) {
        // Anything but "nothing yet" closes the port as disconnected (serialport's stream looks only at `canceled`).
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw e;
      }
      if (bytesRead > 0) return { buffer, bytesRead };
      // Nothing there yet, or a zero-byte read (serialport reads again at once; a hung-up tty
      // would keep answering 0): wait for the poller, which reports a hang-up as an error.
      await readable();
    }
  };
}

/** serialport's detected binding, with reads on the event loop where the port has a descriptor. */
export const loopReadBinding = {
  ...SerialPort.binding,
  async open(options: unknown) {
    const port = await (SerialPort.binding as unknown as { open(o: unknown): Promise<unknown> }).open(options);
    if (isUnixPort(port)) readOnTheLoop(port);
    return port;
  },
} as unknown as Binding;
