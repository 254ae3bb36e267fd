/**
 * Server-side HTML: a tagged template that escapes every interpolated value unless it is
 * already Html, plus the zh-CN formatting helpers the pages share. No template engine: the
 * pages are small and this keeps escaping impossible to forget.
 */
import { LEVEL_LABELS, type Level } from '../../protocol/index.js';

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESC[c]!);

type Value = Html | string | number | boolean | null | undefined | Value[];
const render = (v: Value): string => {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
};

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** JSON for a <script type="application/json"> block: '<' escaped so it cannot close the tag. */
export const jsonScript = (id: string, data: unknown) =>
  new Html(`<script type="application/json" id="${escapeHtml(id)}">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>`);

const fmt = (o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false, ...o });
const DATETIME = fmt({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
const TIME = fmt({ hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** 2026-05-12 14:03 (China time). */
export function dateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return DATETIME.format(ms).replace(/\//g, '-');
}
export const timeOfDay = (ms: number) => TIME.format(ms);

/**
 * A deadline: limits in days end at midnight China time, which reads better as the end of
 * the last day ("2026-10-13 24:00") than as the start of the next.
 */
export function deadlineText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const t = dateTime(ms);
  return t.endsWith(' 00:00') ? `${dateTime(ms - 60_000).slice(0, 10)} 24:00` : t;
}

export function percent(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)}%`;
}

/** "还剩 2天3小时" / "已超期 5小时". */
export function remaining(due: number | null, now: number): { text: string; overdue: boolean } {
  if (due === null) return { text: '—', overdue: false };
  const ms = due - now;
  const abs = Math.abs(ms);
  const d = Math.floor(abs / 86_400_000);
  const h = Math.floor((abs % 86_400_000) / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const span = d > 0 ? `${d}天${h}小时` : h > 0 ? `${h}小时${m}分` : `${m}分钟`;
  return ms >= 0 ? { text: `还剩 ${span}`, overdue: false } : { text: `已超期 ${span}`, overdue: true };
}

export const levelLabel = (level: number) => LEVEL_LABELS[level as Level]?.zh ?? String(level);
