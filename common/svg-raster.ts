/**
 * Drawing with SVG and rasterising it with resvg, shared by the device's panels
 * (device/display/render.ts) and the hub's printable QR boards (hub/citizen/board.ts): one QR
 * drawing, one font lookup, one rasteriser. Chinese text needs a CJK font on the machine
 * (Debian: fonts-wqy-microhei, scripts/install-system-deps).
 */
import { existsSync } from 'node:fs';
import type { ResvgRenderOptions } from '@resvg/resvg-js';
import type QRCodeModule from 'qrcode';
import { lazyModule } from './lazy-module.js';

/** The qrcode package, loaded on the first code drawn: a device panel that never shows a code does not carry it. */
const qrcodeModule = lazyModule<typeof QRCodeModule>('qrcode');

/** Where Debian and Raspberry Pi OS put the CJK fonts we look for first (fast, deterministic). */
export const CJK_FONT_FILES = [
  '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc',
  '/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc',
  '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc',
];
export const SVG_FONT_FAMILY = 'WenQuanYi Micro Hei, WenQuanYi Zen Hei, Noto Sans CJK SC, sans-serif';

export const svgEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A QR code as one SVG path of whole-pixel modules, centred in the box at (x, y): scannable and
 * identical on every rasteriser run. Returns the path data and the module size in pixels.
 */
export function qrPath(payload: string, x: number, y: number, box: number): { d: string; module: number } {
  const qr = qrcodeModule().create(payload, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const m = Math.max(1, Math.floor(box / (n + 2)));
  const x0 = Math.round(x + (box - n * m) / 2);
  const y0 = Math.round(y + (box - n * m) / 2);
  let d = '';
  for (let rr = 0; rr < n; rr++)
    for (let c = 0; c < n; c++) if (qr.modules.get(rr, c)) d += `M${x0 + c * m} ${y0 + rr * m}h${m}v${m}h-${m}z`;
  return { d, module: m };
}

let fontFiles: string[] | null = null;
export function resvgOptions(): ResvgRenderOptions {
  fontFiles ??= CJK_FONT_FILES.filter((f) => existsSync(f));
  // Loading the system font list takes ~100 ms each time; the known files are enough when present.
  return {
    font: { loadSystemFonts: fontFiles.length === 0, fontFiles, defaultFontFamily: 'WenQuanYi Micro Hei' },
    shapeRendering: 1,
    textRendering: 1,
    logLevel: 'off',
  };
}

/** RGBA pixels of an SVG, on resvg's thread pool; resvg (a native module) is loaded on first use. */
export async function rasterize(svg: string): Promise<{ pixels: Buffer; width: number; height: number }> {
  const { renderAsync } = await import('@resvg/resvg-js');
  const img = await renderAsync(svg, resvgOptions());
  return { pixels: img.pixels, width: img.width, height: img.height };
}
