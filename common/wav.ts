/** Reading RIFF/WAVE PCM headers: the device's clips and the hall's own recordings the hub accepts. */

export interface WavInfo {
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Offset and length of the PCM samples. */
  dataOffset: number;
  dataBytes: number;
  seconds: number;
}

/** The format of a RIFF/WAVE PCM file, or null if it is not one. */
export function wavInfo(buf: Buffer): WavInfo | null {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') return null;
  let fmt: { channels: number; sampleRate: number; bits: number; format: number } | null = null;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && body + 16 <= buf.length)
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    if (id === 'data' && fmt) {
      // espeak-ng writing to a pipe leaves the size at 0x7fffffff: take what is there.
      if (body + size > buf.length) size = buf.length - body;
      if (fmt.format !== 1 || !fmt.channels || !fmt.sampleRate || !fmt.bits) return null;
      return {
        channels: fmt.channels,
        sampleRate: fmt.sampleRate,
        bitsPerSample: fmt.bits,
        dataOffset: body,
        dataBytes: size,
        seconds: size / (fmt.sampleRate * fmt.channels * (fmt.bits / 8)),
      };
    }
    off = body + size + (size & 1);
  }
  return null;
}
