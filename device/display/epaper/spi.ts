/**
 * The SPI side of an e-paper panel: Linux spidev through the `spi-device` package (fivdi, the
 * author of onoff). The opener is injected, so tests replace the kernel device and nothing
 * else: the drivers, the chunking and the bytes are real.
 */
import type { SpiDevice, SpiMessage, SpiOptions } from 'spi-device';

/** The part of spi-device's device object the drivers use. */
export interface SpiLike {
  transfer(message: SpiMessage, cb: (err: Error | null | undefined, message: SpiMessage) => void): unknown;
  close(cb: (err: Error | null | undefined) => void): void;
}
export type SpiOpener = (bus: number, device: number, options: SpiOptions) => Promise<SpiLike>;

/** spidev's default buffer (`/sys/module/spidev/parameters/bufsiz`): larger transfers fail with EMSGSIZE. */
export const SPIDEV_BUFSIZ = 4096;

export const openSpiDevice: SpiOpener = async (bus, device, options) => {
  // A CommonJS module: its functions are on the default export under ESM.
  const spi = (await import('spi-device')).default;
  return new Promise<SpiLike>((resolve, reject) => {
    const d: SpiDevice = spi.open(bus, device, options, (err) =>
      err
        ? reject(
            new Error(
              `cannot open /dev/spidev${bus}.${device}: ${err.message} (is SPI enabled? dtparam=spi=on in /boot/firmware/config.txt)`,
            ),
          )
        : resolve(d),
    );
  });
};

export interface SpiPortOptions {
  bus: number;
  device: number;
  speedHz: number;
  /** Largest single transfer; the kernel's spidev bufsiz. */
  chunk?: number;
  open?: SpiOpener;
}

export class SpiPort {
  private dev: SpiLike | null = null;
  /** Bytes sent since open (the bench reads it). */
  bytes = 0;

  constructor(private readonly o: SpiPortOptions) {}

  async open(): Promise<void> {
    // Mode 0, MSB first, 8 bits: what SSD16xx and UC81xx controllers expect on their 4-wire SPI.
    this.dev = await (this.o.open ?? openSpiDevice)(this.o.bus, this.o.device, { mode: 0, maxSpeedHz: this.o.speedHz });
  }

  /** Sends `data` in transfers of at most `chunk` bytes, in order, each awaited. */
  async write(data: Uint8Array): Promise<void> {
    const dev = this.dev;
    if (!dev) throw new Error('SPI device is not open');
    const chunk = this.o.chunk ?? SPIDEV_BUFSIZ;
    for (let i = 0; i < data.length; i += chunk) {
      const part = Buffer.from(data.buffer, data.byteOffset + i, Math.min(chunk, data.length - i));
      await new Promise<void>((resolve, reject) =>
        dev.transfer([{ sendBuffer: part, byteLength: part.length, speedHz: this.o.speedHz }], (err) => (err ? reject(err) : resolve())),
      );
      this.bytes += part.length;
    }
  }

  async close(): Promise<void> {
    const dev = this.dev;
    this.dev = null;
    if (dev) await new Promise<void>((resolve) => dev.close(() => resolve()));
  }
}
