import type { DisplayDriver, Frame, ReasonOption } from './types.js';
import { qrText } from './qr.js';

/** Renders frames as plain text on a terminal, one block per frame (bench work, the simulator). */
export class TerminalDisplay implements DisplayDriver {
  readonly name = 'terminal';
  private running = false;

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly o: { qr?: boolean } = {},
  ) {}

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  show(frame: Frame): void {
    if (!this.running) return;
    this.out.write(renderText(frame, this.o.qr ?? true) + '\n');
  }
}

export const ACTION_LABELS: Record<NonNullable<ReasonOption['action']>, string> = { next: '下一页', done: '确认', skip: '跳过' };

function option(o: ReasonOption): string {
  if (o.reason) return `  [${o.button + 1}] ${o.selected ? '☑' : '☐'} ${o.reason.code} ${o.reason.text}`;
  return `  [${o.button + 1}] ${o.action ? ACTION_LABELS[o.action] : ''}`;
}

export function renderText(f: Frame, qr = false): string {
  const bar = '─'.repeat(36);
  const code = (payload: string | null) => (payload ? [`扫码填写详情: ${payload}`, ...(qr ? [qrText(payload)] : [])] : []);
  switch (f.screen) {
    case 'idle':
      return [
        bar,
        `窗口 ${f.window}${f.windowName ? ` ${f.windowName}` : ''}`,
        f.staff ? `${f.staff.name}${f.staff.number ? `（工号 ${f.staff.number}）` : ''}` : '（无人值守）',
        bar,
      ].join('\n');
    case 'prompt':
      return [
        bar,
        f.text,
        ...(f.cases.length ? [`办件: ${f.cases.join(', ')}`] : []),
        ...f.levels.map((l) => `  [${l.button + 1}] ${l.label}`),
        ...(f.qr ? [`稍后扫码评价: ${f.qr}`] : []),
        bar,
      ].join('\n');
    case 'reasons':
      return [bar, `${f.text} (${f.page + 1}/${f.pages})`, ...f.options.map(option), ...code(f.qr), bar].join('\n');
    case 'thanks':
      return [bar, f.text, ...(f.ref ? [`评价编号 ${f.ref}`] : []), ...code(f.qr), bar].join('\n');
    case 'paused':
      return [bar, f.text, bar].join('\n');
    case 'out-of-service':
      return [bar, f.text, `(${f.fault})`, bar].join('\n');
  }
}
