/**
 * Saves a device's screen as a PNG: exactly the 1-bit bitmap the e-paper driver sends to the
 * panel (device/display/render.ts), encoded losslessly as a 1-bit greyscale PNG. There is no
 * second renderer: what hall IT sees in the simulator is what the glass shows. Chinese text
 * needs a CJK font on the machine (Debian: fonts-wqy-microhei, scripts/install-system-deps).
 */
import { writeFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import type { Bitmap } from '../../device/display/bitmap.js';
import { renderBitmap, type RenderOptions } from '../../device/display/render.js';
import type { Frame } from '../../device/display/types.js';

/** The panel the simulator shows by default: the 7.5" 800×480 (UC8179) module. */
export const SIM_PANEL: RenderOptions = { width: 800, height: 480 };

/** A device that is not running shows this. */
const NOT_RUNNING: Frame = { screen: 'paused', text: '（设备未运行）' };

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A bitmap as a 1-bit greyscale PNG (PNG's 1 is white, so ink bits are inverted). */
export function bitmapPng(b: Bitmap): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(b.width, 0);
  ihdr.writeUInt32BE(b.height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((b.stride + 1) * b.height);
  for (let y = 0; y < b.height; y++) {
    raw[y * (b.stride + 1)] = 0; // filter: none
    for (let c = 0; c < b.stride; c++) raw[y * (b.stride + 1) + 1 + c] = ~b.data[y * b.stride + c]! & 0xff;
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export async function savePanelPng(f: Frame | null, file: string, panel: RenderOptions = SIM_PANEL): Promise<void> {
  writeFileSync(file, bitmapPng(await renderBitmap(f ?? NOT_RUNNING, panel)));
}
