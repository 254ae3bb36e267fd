/**
 * A cap on MQTT packet size, checked on the wire before the packet is buffered: aedes and
 * mqtt-packet accept packets up to 256 MB, so without this one client could fill the hub's
 * memory with a single CONNECT or PUBLISH. The guard reads each packet's fixed header (type
 * byte + "remaining length" varint) and skips its body; a header announcing more than the
 * limit closes the connection at once.
 */
import type { Duplex } from 'node:stream';

/** Pure framing state machine over the bytes a connection delivers. */
export class FrameSizeGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(readonly maxBytes: number) {}

  /** Returns null while all is well, or the announced size of the packet that is too big. */
  feed(buf: Uint8Array): number | null {
    let i = 0;
    while (i < buf.length) {
      if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = buf[i++]!;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (this.length > this.maxBytes) return this.length;
        if (b & 0x80) {
          if (this.lengthBytes >= 4) return Number.MAX_SAFE_INTEGER; // malformed varint
          continue;
        }
        this.bodyLeft = this.length;
        this.state = this.bodyLeft > 0 ? 'body' : 'type';
      } else {
        const n = Math.min(this.bodyLeft, buf.length - i);
        i += n;
        this.bodyLeft -= n;
        if (this.bodyLeft === 0) this.state = 'type';
      }
    }
    return null;
  }
}

/**
 * Watches what aedes reads from `conn` (it reads in paused mode with `read()`), and destroys
 * the connection when a packet is announced that is larger than `maxBytes`.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, onTooBig: (announced: number) => void): void {
  const guard = new FrameSizeGuard(maxBytes);
  const read = conn.read.bind(conn);
  conn.read = (size?: number) => {
    const chunk = read(size) as Buffer | null;
    if (chunk && typeof chunk !== 'string') {
      const tooBig = guard.feed(chunk);
      if (tooBig !== null) {
        onTooBig(tooBig);
        conn.destroy();
        return null;
      }
    }
    return chunk;
  };
}
