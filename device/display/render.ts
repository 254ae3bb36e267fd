/**
 * The one renderer for every pixel panel and for the simulator's saved screens:
 * frame → layout (SVG, sized for the panel) → rasterised by resvg → 1-bit bitmap.
 * The e-paper drivers send this bitmap; the simulator's PNG is this bitmap encoded, nothing
 * else (simulator/interactive/png.ts). Chinese text needs a CJK font on the machine: Debian's
 * fonts-wqy-microhei (scripts/install-system-deps installs it; hardware-notes.md says so).
 *
 * Layout rules: every screen fits the panel at any size from 250×122 to 800×480; options stand
 * in one row of boxes along the bottom edge, one box above each physical button, numbered as
 * the buttons' caps; the reasons page lists one reason per button with its box ticked when
 * chosen; a QR code (for writing details on a phone) sits at the right, at least 2 px per module.
 * `largeType` is the high-contrast option: bigger type, thicker rules, white on black headers,
 * less secondary text.
 */
import { CJK_FONT_FILES, qrPath, rasterize, SVG_FONT_FAMILY, svgEscape } from '../../common/svg-raster.js';
import { LEVEL_LABELS } from '../../protocol/index.js';
import { fromRgba, type Bitmap } from './bitmap.js';
import type { Frame, ReasonOption } from './types.js';

export interface RenderOptions {
  /** Logical size (after rotation) in pixels. */
  width: number;
  height: number;
  /** Large type, high contrast. */
  largeType?: boolean;
}

export { CJK_FONT_FILES };
const FAMILY = SVG_FONT_FAMILY;

export const ACTION_TEXT: Record<NonNullable<ReasonOption['action']>, string> = { next: '下一页', done: '确认提交', skip: '跳过' };

const esc = svgEscape;

/** Approximate advance of a string in em: CJK and full-width 1, others ~0.55. */
function ems(s: string): number {
  let w = 0;
  for (const ch of s)
    w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u2600-\u27bf]/.test(ch) ? 1 : 0.56;
  return w;
}

/** `s` cut (with …) to fit `maxPx` at font size `size`. */
export function fit(s: string, maxPx: number, size: number): string {
  if (ems(s) * size <= maxPx) return s;
  const chars = [...s];
  while (chars.length > 1 && (ems(chars.join('')) + 1) * size > maxPx) chars.pop();
  return chars.join('') + '…';
}

class Svg {
  readonly parts: string[] = [];
  constructor(
    readonly w: number,
    readonly h: number,
  ) {}
  rect(x: number, y: number, w: number, h: number, o: { fill?: boolean; stroke?: number; white?: boolean } = {}): void {
    const fill = o.fill ? (o.white ? '#fff' : '#000') : 'none';
    const stroke = o.stroke ? ` stroke="${o.white ? '#fff' : '#000'}" stroke-width="${o.stroke}"` : '';
    this.parts.push(`<rect x="${r(x)}" y="${r(y)}" width="${r(w)}" height="${r(h)}" fill="${fill}"${stroke}/>`);
  }
  /** Text with its baseline at y; anchor start/middle/end at x; cut to maxW. */
  text(
    s: string,
    x: number,
    y: number,
    size: number,
    o: { anchor?: 'start' | 'middle' | 'end'; white?: boolean; maxW?: number; bold?: boolean } = {},
  ): void {
    const t = o.maxW ? fit(s, o.maxW, size) : s;
    if (!t) return;
    const anchor = o.anchor && o.anchor !== 'start' ? ` text-anchor="${o.anchor}"` : '';
    const weight = o.bold ? ' font-weight="bold"' : '';
    this.parts.push(
      `<text x="${r(x)}" y="${r(y)}" font-size="${r(size)}"${anchor}${weight} fill="${o.white ? '#fff' : '#000'}" xml:space="preserve">${esc(t)}</text>`,
    );
  }
  qr(payload: string, x: number, y: number, box: number): number {
    const { d, module } = qrPath(payload, x, y, box);
    this.parts.push(`<path d="${d}" fill="#000"/>`);
    return module;
  }
  toString(): string {
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.w}" height="${this.h}" viewBox="0 0 ${this.w} ${this.h}" shape-rendering="crispEdges" font-family="${FAMILY}">`,
      `<rect width="${this.w}" height="${this.h}" fill="#fff"/>`,
      ...this.parts,
      '</svg>',
    ].join('\n');
  }
}
const r = (n: number) => Math.round(n * 10) / 10;

/** The SVG of one frame at the panel's logical size. Pure: the same frame gives the same SVG. */
export function layoutSvg(f: Frame, o: RenderOptions): string {
  const { width: W, height: H } = o;
  const big = o.largeType === true;
  const s = new Svg(W, H);
  // One unit scales everything with the panel: 30 px on an 800×480, ~19 px on a 400×300.
  const u = Math.min(H / 16, W / 22);
  const body = u * (big ? 1.45 : 1);
  const small = u * (big ? 1.1 : 0.75);
  const pad = Math.max(2, Math.round(u * 0.4));
  const rule = Math.max(1, Math.round(u / (big ? 6 : 12)));

  /** A black band across the top with white text: the screen's title. */
  const header = (title: string, right?: string): number => {
    const hh = Math.round(body * 1.6);
    s.rect(0, 0, W, hh, { fill: true });
    s.text(title, pad, hh * 0.72, body, { white: true, maxW: right ? W * 0.62 : W - 2 * pad, bold: big });
    if (right) s.text(right, W - pad, hh * 0.72, small, { anchor: 'end', white: true, maxW: W * 0.34 });
    return hh;
  };

  /** One box per button along the bottom: number over label, as the caps sit under the panel. */
  const buttonRow = (labels: { button: number; text: string; marked?: boolean }[], count: number): number => {
    const bh = Math.round((big ? 3.4 : 2.6) * u);
    const top = H - bh - pad;
    const bw = (W - pad * (count + 1)) / count;
    // One type size for every box (the longest label decides), so no option looks louder.
    const longest = Math.max(2, ...labels.map((l) => ems(l.text)));
    const size = Math.min(big ? body : small * 1.15, (bw - 2 * rule) / (longest + 0.3));
    for (const l of labels) {
      const x = pad + l.button * (bw + pad);
      if (l.marked) s.rect(x, top, bw, bh, { fill: true });
      else s.rect(x + rule / 2, top + rule / 2, bw - rule, bh - rule, { stroke: rule * (big ? 2 : 1) });
      s.text(String(l.button + 1), x + bw / 2, top + bh * 0.42, Math.min(size * 1.2, bh * 0.38), {
        anchor: 'middle',
        white: l.marked,
        bold: true,
      });
      s.text(l.text, x + bw / 2, top + bh * 0.85, size, { anchor: 'middle', white: l.marked, maxW: bw - 2 * rule });
    }
    return top;
  };

  switch (f.screen) {
    case 'idle': {
      const hh = header(`窗口 ${f.window}${f.windowName ? ` · ${f.windowName}` : ''}`);
      const cardTop = hh + pad * 2;
      const photo = Math.min(H - cardTop - 2.2 * u - pad, W * 0.3);
      if (f.staff) {
        // The staff card (信息牌): photo frame, name, number. The photo itself stays on the hub.
        s.rect(pad * 2, cardTop, photo * 0.8, photo, { stroke: rule * 2 });
        s.text('照片', pad * 2 + photo * 0.4, cardTop + photo / 2 + small / 2, small, { anchor: 'middle' });
        const tx = pad * 4 + photo * 0.8;
        s.text(f.staff.name, tx, cardTop + body * 2, body * 1.6, { maxW: W - tx - pad, bold: true });
        if (f.staff.number) s.text(`工号 ${f.staff.number}`, tx, cardTop + body * 3.6, body, { maxW: W - tx - pad });
        if (!big) s.text('为您服务', tx, cardTop + body * 5, small, { maxW: W - tx - pad });
      } else {
        s.text('（无人值守）', W / 2, cardTop + photo / 2, body * 1.3, { anchor: 'middle', maxW: W - 2 * pad });
      }
      s.text('办理完毕后请评价', W / 2, H - pad * 2, small, { anchor: 'middle', maxW: W - 2 * pad });
      break;
    }
    case 'prompt': {
      const hh = header(
        f.staff ? `${f.staff.name}${f.staff.number ? `  工号 ${f.staff.number}` : ''}` : '请评价',
        f.cases.length ? `${f.cases.length} 件` : undefined,
      );
      const top = buttonRow(
        f.levels.map((l) => ({ button: l.button, text: l.label })),
        Math.max(f.levels.length, ...f.levels.map((l) => l.button + 1)),
      );
      const qrBox = f.qr && !big ? Math.min(top - hh - 2 * pad - small * 1.4, W * 0.22) : 0;
      if (f.qr && qrBox > small * 4) {
        const qx = W - qrBox - pad;
        s.qr(f.qr, qx, hh + pad, qrBox);
        s.text('稍后扫码评价', qx + qrBox / 2, hh + pad + qrBox + small * 1.1, small, { anchor: 'middle', maxW: qrBox });
      }
      const mid = hh + (top - hh) / 2;
      s.text(f.text, W / 2, mid - (f.cases.length && !big ? body * 0.2 : -body * 0.4), body * 1.3, {
        anchor: 'middle',
        maxW: W - 2 * pad,
        bold: big,
      });
      if (f.cases.length && !big) {
        const cases = f.cases.length > 2 ? `${f.cases.slice(0, 2).join('，')} 等 ${f.cases.length} 件` : f.cases.join('，');
        s.text(`办件 ${cases}`, W / 2, mid + body * 1.2, small, { anchor: 'middle', maxW: W - 2 * pad });
      }
      break;
    }
    case 'reasons': {
      const hh = header(`${f.text}`, f.pages > 1 ? `${f.page + 1}/${f.pages}` : undefined);
      const qrBox = f.qr ? Math.min(H - hh - 2 * pad - small * 1.6, W * 0.34) : 0;
      const listW = W - (qrBox ? qrBox + 3 * pad : 2 * pad);
      const rows = f.options.length;
      const lh = Math.min((H - hh - 2 * pad) / Math.max(rows, 1), body * 1.8);
      const size = Math.min(big ? body * 1.1 : body * 0.9, lh * 0.7);
      f.options.forEach((o, i) => {
        const y = hh + pad + lh * i;
        const base = y + lh * 0.75;
        const num = `${o.button + 1}`;
        // The button number in a black square, so the row reads "press 2 for …".
        s.rect(pad, y + lh * 0.1, lh * 0.8, lh * 0.8, { fill: true });
        s.text(num, pad + lh * 0.4, base, size, { anchor: 'middle', white: true, bold: true });
        const tx = pad * 2 + lh * 0.8;
        if (o.reason) {
          const bx = tx;
          s.rect(bx + rule / 2, y + lh * 0.2, lh * 0.6, lh * 0.6, { stroke: rule * 2, fill: o.selected });
          s.text(`${big ? '' : `${o.reason.code} `}${o.reason.text}`, bx + lh * 0.8, base, size, { maxW: listW - (bx + lh * 0.8) });
        } else {
          s.text(o.action ? `【${ACTION_TEXT[o.action]}】` : '', tx, base, size, { maxW: listW - tx, bold: true });
        }
      });
      if (f.qr && qrBox > 0) {
        const qx = W - qrBox - pad;
        s.qr(f.qr, qx, hh + pad, qrBox);
        s.text('扫码写意见', qx + qrBox / 2, Math.min(H - pad, hh + pad + qrBox + small * 1.2), small, { anchor: 'middle', maxW: qrBox });
      }
      break;
    }
    case 'thanks': {
      const qrBox = f.qr ? Math.min(H - 2 * pad - small * 1.6, W * 0.38) : 0;
      const cw = W - (qrBox ? qrBox + 2 * pad : 0);
      s.text(f.text, cw / 2, H * 0.42, body * 1.6, { anchor: 'middle', maxW: cw - 2 * pad, bold: true });
      if (f.level)
        s.text(`您的评价：${LEVEL_LABELS[f.level].zh}`, cw / 2, H * 0.42 + body * 1.8, body, { anchor: 'middle', maxW: cw - 2 * pad });
      if (f.ref && !big) s.text(`评价编号 ${f.ref.slice(-12)}`, cw / 2, H - pad * 2, small, { anchor: 'middle', maxW: cw - 2 * pad });
      if (f.qr && qrBox > 0) {
        const qx = W - qrBox - pad;
        s.qr(f.qr, qx, pad, qrBox);
        s.text('扫码补充意见', qx + qrBox / 2, Math.min(H - pad, pad + qrBox + small * 1.2), small, { anchor: 'middle', maxW: qrBox });
      }
      break;
    }
    case 'paused': {
      s.rect(pad, pad, W - 2 * pad, H - 2 * pad, { stroke: rule * 3 });
      s.text(f.text, W / 2, H / 2 + body * 0.5, body * 1.6, { anchor: 'middle', maxW: W - 4 * pad, bold: true });
      break;
    }
    case 'out-of-service': {
      // White on black: seen from across the hall as "this evaluator is not working".
      s.rect(0, 0, W, H, { fill: true });
      s.text(f.text, W / 2, H * 0.45, body * 1.2, { anchor: 'middle', white: true, maxW: W - 2 * pad, bold: true });
      s.text(`故障 ${f.fault}`, W / 2, H * 0.45 + body * 1.8, small, { anchor: 'middle', white: true, maxW: W - 2 * pad });
      s.text('请联系大厅工作人员', W / 2, H - pad * 2, small, { anchor: 'middle', white: true, maxW: W - 2 * pad });
      break;
    }
  }
  return s.toString();
}

/** The last few rasterised layouts: a device flips between the same handful of screens. */
const cache = new Map<string, Promise<Bitmap>>();
const CACHE_SIZE = 12;

/**
 * The 1-bit bitmap of one frame. Rasterised on resvg's thread pool: the event loop keeps
 * serving presses meanwhile. Callers must not modify the bitmap (it may be shared).
 */
export function renderBitmap(f: Frame, o: RenderOptions): Promise<Bitmap> {
  const svg = layoutSvg(f, o);
  const hit = cache.get(svg);
  if (hit) {
    cache.delete(svg);
    cache.set(svg, hit);
    return hit;
  }
  // resvg (a native module) is loaded on first use: agents with LEDs or a serial panel never load it.
  const p = rasterize(svg).then((img) => fromRgba(img.pixels, img.width, img.height));
  cache.set(svg, p);
  p.catch(() => cache.delete(svg));
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return p;
}

/** Panels sold for evaluators, native size (source × gate lines). */
export const PANEL_SIZES = {
  '2.13': { width: 122, height: 250 },
  '4.2': { width: 400, height: 300 },
  '7.5': { width: 800, height: 480 },
} as const;
