/**
 * A 1-bit image: what every pixel panel shows and what the simulator saves as a PNG. Rows are
 * packed MSB first (pixel x is bit 7 - x % 8 of byte x >> 3), each row padded to whole bytes;
 * a set bit is ink (black). Controllers differ in polarity and scan order: drivers convert.
 */
export interface Bitmap {
  readonly width: number;
  readonly height: number;
  /** Bytes per row: ceil(width / 8). */
  readonly stride: number;
  readonly data: Uint8Array;
}

export function blank(width: number, height: number): Bitmap {
  const stride = (width + 7) >> 3;
  return { width, height, stride, data: new Uint8Array(stride * height) };
}

export function getPixel(b: Bitmap, x: number, y: number): boolean {
  return (b.data[y * b.stride + (x >> 3)]! & (0x80 >> (x & 7))) !== 0;
}

export function setPixel(b: Bitmap, x: number, y: number, ink: boolean): void {
  const i = y * b.stride + (x >> 3);
  const m = 0x80 >> (x & 7);
  b.data[i] = ink ? b.data[i]! | m : b.data[i]! & ~m;
}

/** Ink from RGBA pixels (resvg's output): darker than mid-grey is ink; transparent is paper. */
export function fromRgba(rgba: Uint8Array, width: number, height: number): Bitmap {
  const b = blank(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const a = rgba[p + 3]! / 255;
      // Composite over white paper, then threshold the luminance.
      const lum = (1 - a) * 255 + a * (0.299 * rgba[p]! + 0.587 * rgba[p + 1]! + 0.114 * rgba[p + 2]!);
      if (lum < 128) b.data[y * b.stride + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
  return b;
}

export type Rotation = 0 | 90 | 180 | 270;

/**
 * The logical image (as laid out) turned into the panel's native orientation (source lines
 * along x, gate lines along y). Rotation is clockwise: with 90, the logical top edge runs down
 * the panel's right-hand side, as when the module is mounted turned a quarter to the right.
 */
export function toNative(b: Bitmap, rotation: Rotation): Bitmap {
  if (rotation === 0) return b;
  const w = rotation === 180 ? b.width : b.height;
  const h = rotation === 180 ? b.height : b.width;
  const out = blank(w, h);
  for (let y = 0; y < b.height; y++) {
    for (let x = 0; x < b.width; x++) {
      if (!getPixel(b, x, y)) continue;
      const [nx, ny] =
        rotation === 90 ? [b.height - 1 - y, x] : rotation === 180 ? [b.width - 1 - x, b.height - 1 - y] : [y, b.width - 1 - x];
      out.data[ny * out.stride + (nx >> 3)]! |= 0x80 >> (nx & 7);
    }
  }
  return out;
}

/** The size to lay out for a panel of native `width` × `height` mounted at `rotation`. */
export function logicalSize(width: number, height: number, rotation: Rotation): { width: number; height: number } {
  return rotation === 90 || rotation === 270 ? { width: height, height: width } : { width, height };
}

export function sameBitmap(a: Bitmap, b: Bitmap): boolean {
  if (a.width !== b.width || a.height !== b.height) return false;
  for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) if (getPixel(a, x, y) !== getPixel(b, x, y)) return false;
  return true;
}

/** Pixels that differ (for test messages). */
export function diffCount(a: Bitmap, b: Bitmap): number {
  let n = 0;
  for (let y = 0; y < Math.min(a.height, b.height); y++)
    for (let x = 0; x < Math.min(a.width, b.width); x++) if (getPixel(a, x, y) !== getPixel(b, x, y)) n++;
  return n + Math.abs(a.width * a.height - b.width * b.height);
}

export function inkCount(b: Bitmap): number {
  let n = 0;
  for (const byte of b.data) for (let v = byte; v; v &= v - 1) n++;
  return n;
}
