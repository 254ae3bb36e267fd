/**
 * A device's screen as its e-ink panel would show it, drawn in a terminal: a framed panel
 * with the staff card (信息牌), the prompt and its buttons, the reason screen with codes,
 * a QR code for writing details on a phone, the thank-you, out-of-service. Pure: a frame
 * (and the device's config for the staff card) in, lines out.
 */
import QRCode from 'qrcode';
import stringWidth from 'string-width';
import type { Frame } from '../../device/display/types.js';
import type { Staff } from '../../protocol/index.js';

export const PANEL_WIDTH = 44;

function pad(s: string, width: number): string {
  const w = stringWidth(s);
  return w >= width ? s : s + ' '.repeat(width - w);
}

function center(s: string, width: number): string {
  const w = stringWidth(s);
  if (w >= width) return s;
  const left = Math.floor((width - w) / 2);
  return ' '.repeat(left) + s + ' '.repeat(width - w - left);
}

/** A QR code as text, two modules per character row (half blocks). */
export function qrLines(text: string): string[] {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'L' });
  const n = qr.modules.size;
  const dark = (x: number, y: number) => x >= 0 && y >= 0 && x < n && y < n && qr.modules.get(y, x) === 1;
  const out: string[] = [];
  for (let y = -1; y < n + 1; y += 2) {
    let row = '';
    for (let x = -1; x < n + 1; x++) {
      const top = dark(x, y);
      const bottom = dark(x, y + 1);
      row += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    out.push(row);
  }
  return out;
}

function staffCard(staff: Staff | null): string[] {
  if (!staff) return ['（无人值守）'];
  return [`${staff.name}${staff.number ? `  工号 ${staff.number}` : ''}`, ...(staff.photo ? [`照片: ${staff.photo}`] : [])];
}

/** The text lines of a frame and the QR payload it offers, if any. */
export function panelParts(f: Frame | null, staff: Staff | null): { lines: string[]; qr: string | null; qrLabel: string | null } {
  if (!f) return { lines: ['', '（设备未运行）', ''], qr: null, qrLabel: null };
  switch (f.screen) {
    case 'idle':
      return {
        lines: [`窗口 ${f.window}${f.windowName ? ` · ${f.windowName}` : ''}`, '', ...staffCard(f.staff), '', '等待办件…'],
        qr: null,
        qrLabel: null,
      };
    case 'prompt':
      return {
        lines: [
          ...staffCard(f.staff ?? staff),
          '',
          f.text,
          ...(f.cases.length
            ? [`办件 ${f.cases.length > 2 ? `${f.cases.slice(0, 2).join(', ')} 等 ${f.cases.length} 件` : f.cases.join(', ')}`]
            : []),
          '',
          ...f.levels.map((l) => `  [${l.button + 1}] ${l.label}`),
        ],
        qr: null,
        qrLabel: null,
      };
    case 'reasons':
      return {
        lines: [
          `${f.text}${f.pages > 1 ? `  (${f.page + 1}/${f.pages})` : ''}`,
          '',
          ...f.options.map((o) =>
            o.reason
              ? `  [${o.button + 1}] ${o.selected ? '☑' : '☐'} ${o.reason.code} ${o.reason.text}`
              : `  [${o.button + 1}] ${ACTIONS[o.action ?? 'done']}`,
          ),
        ],
        qr: f.qr,
        qrLabel: '扫码填写详细意见:',
      };
    case 'thanks':
      return { lines: ['', f.text, ...(f.level ? [`（您的评价: ${LEVEL_STARS[f.level]}）`] : []), ''], qr: f.qr, qrLabel: '扫码补充意见:' };
    case 'paused':
      return { lines: ['', f.text, '', ...staffCard(staff)], qr: null, qrLabel: null };
    case 'out-of-service':
      return { lines: ['', f.text, `故障: ${f.fault}`, '', '请联系大厅工作人员'], qr: null, qrLabel: null };
  }
}

/** The lines inside the panel for one frame (a QR code drawn with half blocks). */
export function panelBody(f: Frame | null, staff: Staff | null): string[] {
  const p = panelParts(f, staff);
  return p.qr ? [...p.lines, '', p.qrLabel ?? '', ...qrLines(p.qr)] : p.lines;
}

/** Centred screens: short messages, as a panel shows them. */
export function isCentred(f: Frame | null): boolean {
  return f?.screen === 'thanks' || f?.screen === 'paused' || f?.screen === 'out-of-service';
}

const ACTIONS = { next: '下一页 ›', done: '确认提交', skip: '跳过' } as const;
const LEVEL_STARS: Record<number, string> = { 5: '★★★★★ 非常满意', 4: '★★★★ 满意', 3: '★★★ 基本满意', 2: '★★ 不满意', 1: '★ 非常不满意' };

/** The framed panel, `title` in its top border. */
export function renderPanel(f: Frame | null, staff: Staff | null, title: string, width = PANEL_WIDTH): string[] {
  const inner = width - 2;
  const body = panelBody(f, staff);
  const top = `┌${pad(`─ ${title} `, inner).replace(/ +$/, (m) => '─'.repeat(m.length))}┐`;
  const lines = [top, `│${' '.repeat(inner)}│`];
  for (const l of body) {
    const text = isCentred(f) ? center(l, inner) : pad(` ${l}`, inner);
    lines.push(`│${pad(text, inner)}│`);
  }
  lines.push(`│${' '.repeat(inner)}│`, `└${'─'.repeat(inner)}┘`);
  return lines;
}
