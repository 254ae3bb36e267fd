import { createRequire } from 'node:module';
import type QRCodeModule from 'qrcode';

let qrcode: typeof QRCodeModule | null = null;
/**
 * The qrcode package, loaded on the first code drawn: most frames have none, and an agent that
 * never shows one (no feedback link configured) does not carry its ~10 MiB (issue 14). Loaded
 * synchronously (it is CommonJS) so drawing a frame stays synchronous.
 */
export function qrcodeModule(): typeof QRCodeModule {
  return (qrcode ??= createRequire(import.meta.url)('qrcode') as typeof QRCodeModule);
}

/**
 * A QR code as text for a terminal: two module rows per character with half blocks, a quiet
 * zone of two modules, so a phone can scan it off the screen. (Panels behind the serial
 * controller get the payload and draw the code themselves.)
 */
export function qrText(payload: string): string {
  const m = qrcodeModule().create(payload, { errorCorrectionLevel: 'M' }).modules;
  const q = 2;
  const dark = (r: number, c: number) => r >= 0 && c >= 0 && r < m.size && c < m.size && Boolean(m.get(r, c));
  const rows: string[] = [];
  for (let r = -q; r < m.size + q; r += 2) {
    let line = '';
    for (let c = -q; c < m.size + q; c++) {
      const top = dark(r, c);
      const bottom = dark(r + 1, c);
      // Light text on a dark terminal: draw the light modules.
      line += !top && !bottom ? '█' : !top ? '▀' : !bottom ? '▄' : ' ';
    }
    rows.push(line);
  }
  return rows.join('\n');
}
