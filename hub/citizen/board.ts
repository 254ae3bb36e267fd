/**
 * A window's printable QR board (Yinchuan: QR boards at its 388 windows; Ankang art. 10): A5
 * portrait with the window's number and name and one QR, as a 300 dpi PNG or a one-page PDF.
 * Drawn as SVG with the device panels' QR drawing and fonts, rasterised by resvg
 * (common/svg-raster.ts). Where the QR leads is the hall's choice (citizen.board.target): the
 * province's own evaluation page — a URL template with {area}, {dept} and {window} — or the
 * hub's page for the window under the hall's public citizen address.
 */
import { deflateSync, crc32 } from 'node:zlib';
import { qrPath, rasterize, SVG_FONT_FAMILY, svgEscape } from '../../common/svg-raster.js';

/** A5 at 300 dpi (148 × 210 mm). */
export const BOARD_PX = { width: 1748, height: 2480 } as const;
/** A5 in PDF points (1/72 in). */
const A5_PT = { width: 419.53, height: 595.28 } as const;

export class BoardError extends Error {
  override readonly name = 'BoardError';
  readonly statusCode = 400;
}

export interface BoardTargetInput {
  /** 'hub' or a URL template with {area}, {dept}, {window}. */
  target: string;
  window: string;
  areaCode: string | null;
  deptCode: string | null;
  /** The hall's public citizen address (its feedbackUrl), for the 'hub' target. */
  citizenBase: string | null;
}

/** The URL a window's board QR carries. Throws BoardError (what to configure) when it cannot be made. */
export function boardTarget(i: BoardTargetInput): string {
  if (i.target === 'hub') {
    if (!i.citizenBase)
      throw new BoardError(
        "the board points to the hub's page, but the hall has no feedbackUrl (the citizen page's public address): set it, or set citizen.board.target to the province's URL template",
      );
    const u = new URL(i.citizenBase);
    u.search = '';
    u.hash = '';
    u.pathname = u.pathname.replace(/\/+$/, '') + '/w/' + encodeURIComponent(i.window);
    return u.toString();
  }
  const values: Record<string, string | null> = { area: i.areaCode, dept: i.deptCode, window: i.window };
  const url = i.target.replace(/\{(area|dept|window)\}/g, (_m, k: string) => {
    const v = values[k];
    if (!v)
      throw new BoardError(
        `the board URL template needs {${k}}, but the hub has no ${k === 'area' ? 'province areaCode' : 'province deptCode'}`,
      );
    return encodeURIComponent(v);
  });
  if (/\{[a-z]+\}/.test(url)) throw new BoardError(`the board URL template has an unknown placeholder: ${/\{[a-z]+\}/.exec(url)![0]}`);
  return url;
}

export interface BoardContent {
  hallName: string;
  window: string;
  windowName: string | null;
  url: string;
}

/** The board as SVG at 300 dpi A5. */
export function boardSvg(b: BoardContent): string {
  const { width: W, height: H } = BOARD_PX;
  const t = (s: string, y: number, size: number, bold = false) =>
    `<text x="${W / 2}" y="${y}" font-size="${size}" text-anchor="middle"${bold ? ' font-weight="bold"' : ''} fill="#000">${svgEscape(s)}</text>`;
  const box = 1300;
  const qr = qrPath(b.url, (W - box) / 2, 820, box);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" shape-rendering="crispEdges" font-family="${SVG_FONT_FAMILY}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<rect x="40" y="40" width="${W - 80}" height="${H - 80}" fill="none" stroke="#000" stroke-width="8"/>`,
    t('政务服务“好差评”', 230, 120, true),
    t(b.hallName, 360, 80),
    t(`${b.window} 号窗口`, 560, 170, true),
    b.windowName ? t(b.windowName, 720, 100) : '',
    `<path d="${qr.d}" fill="#000"/>`,
    t('请扫码对本窗口的服务进行评价', 2260, 84, true),
    t('不收集个人信息 · 一次服务一次评价', 2380, 56),
    '</svg>',
  ].join('\n');
}

/** Greyscale pixels (one byte each) of the rendered board. */
async function greyPixels(b: BoardContent): Promise<{ grey: Buffer; width: number; height: number }> {
  const img = await rasterize(boardSvg(b));
  const grey = Buffer.alloc(img.width * img.height);
  for (let i = 0; i < grey.length; i++) {
    const p = i * 4;
    grey[i] = Math.round(0.299 * img.pixels[p]! + 0.587 * img.pixels[p + 1]! + 0.114 * img.pixels[p + 2]!);
  }
  return { grey, width: img.width, height: img.height };
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** The board as an 8-bit greyscale PNG that says 300 dpi (prints at A5). */
export async function boardPng(b: BoardContent): Promise<Buffer> {
  const { grey, width, height } = await greyPixels(b);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) grey.copy(raw, y * (width + 1) + 1, y * width, (y + 1) * width);
  const phys = Buffer.alloc(9);
  phys.writeUInt32BE(11_811, 0); // 300 dpi in pixels per metre
  phys.writeUInt32BE(11_811, 4);
  phys[8] = 1;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('pHYs', phys),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The board as a one-page A5 PDF: the 300 dpi greyscale image filling the page (fonts are in the pixels, none to embed). */
export async function boardPdf(b: BoardContent): Promise<Buffer> {
  const { grey, width, height } = await greyPixels(b);
  const image = deflateSync(grey);
  const content = Buffer.from(`q ${A5_PT.width} 0 0 ${A5_PT.height} 0 0 cm /Board Do Q\n`, 'latin1');
  const objects: Buffer[] = [
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>', 'latin1'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>', 'latin1'),
    Buffer.from(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${A5_PT.width} ${A5_PT.height}] /Resources << /XObject << /Board 5 0 R >> >> /Contents 4 0 R >>`,
      'latin1',
    ),
    Buffer.concat([Buffer.from(`<< /Length ${content.length} >>\nstream\n`, 'latin1'), content, Buffer.from('\nendstream', 'latin1')]),
    Buffer.concat([
      Buffer.from(
        `<< /Type /XObject /Subtype /Image /Width ${width} /Height ${height} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length ${image.length} >>\nstream\n`,
        'latin1',
      ),
      image,
      Buffer.from('\nendstream', 'latin1'),
    ]),
  ];
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let offset = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    const obj = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`, 'latin1'), body, Buffer.from('\nendobj\n', 'latin1')]);
    offsets.push(offset);
    offset += obj.length;
    parts.push(obj);
  });
  const xref = [
    'xref',
    `0 ${objects.length + 1}`,
    '0000000000 65535 f ',
    ...offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n `),
    'trailer',
    `<< /Size ${objects.length + 1} /Root 1 0 R >>`,
    'startxref',
    String(offset),
    '%%EOF',
    '',
  ].join('\n');
  parts.push(Buffer.from(xref, 'latin1'));
  return Buffer.concat(parts);
}
