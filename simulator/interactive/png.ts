/**
 * Saves a device's screen as a PNG, black on white like an e-ink panel: the same content as
 * the terminal panel, drawn as SVG and rasterised with resvg. Chinese text needs a CJK font
 * on the machine (Debian: fonts-wqy-microhei, installed by scripts/install-system-deps).
 */
import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import QRCode from 'qrcode';
import type { Frame } from '../../device/display/types.js';
import type { Staff } from '../../protocol/index.js';
import { isCentred, panelParts } from './panel.js';

const W = 480;
const LINE = 30;
const FONT = 20;
const QR_MODULE = 4;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function panelSvg(f: Frame | null, staff: Staff | null, title: string): string {
  const p = panelParts(f, staff);
  const centred = isCentred(f);
  const parts: string[] = [];
  let y = 70;
  for (const l of p.lines) {
    if (l) parts.push(centred ? `<text x="${W / 2}" y="${y}" text-anchor="middle">${esc(l.trim())}</text>` : `<text x="28" y="${y}" xml:space="preserve">${esc(l)}</text>`);
    y += LINE;
  }
  if (p.qr) {
    parts.push(`<text x="${W / 2}" y="${y}" text-anchor="middle">${esc(p.qrLabel ?? '')}</text>`);
    y += 12;
    const qr = QRCode.create(p.qr, { errorCorrectionLevel: 'L' });
    const n = qr.modules.size;
    const x0 = Math.round((W - n * QR_MODULE) / 2);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.modules.get(r, c)) parts.push(`<rect x="${x0 + c * QR_MODULE}" y="${y + r * QR_MODULE}" width="${QR_MODULE}" height="${QR_MODULE}"/>`);
    y += n * QR_MODULE + LINE;
  }
  const h = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}">`,
    `<rect width="${W}" height="${h}" fill="#fff"/>`,
    `<rect x="6" y="6" width="${W - 12}" height="${h - 12}" rx="10" fill="none" stroke="#000" stroke-width="3"/>`,
    `<rect x="6" y="6" width="${W - 12}" height="34" rx="10" fill="#000"/>`,
    `<text x="20" y="30" fill="#fff" font-family="WenQuanYi Micro Hei, sans-serif" font-size="18">${esc(title)}</text>`,
    `<g fill="#000" font-family="WenQuanYi Micro Hei Mono, WenQuanYi Micro Hei, monospace" font-size="${FONT}">`,
    ...parts,
    '</g></svg>',
  ].join('\n');
}

export async function savePanelPng(f: Frame | null, staff: Staff | null, title: string, file: string): Promise<void> {
  const png = new Resvg(panelSvg(f, staff, title), { font: { loadSystemFonts: true, defaultFontFamily: 'WenQuanYi Micro Hei' } }).render().asPng();
  writeFileSync(file, png);
}
