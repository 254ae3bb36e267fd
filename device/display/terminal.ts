import type { DisplayDriver, Frame } from './types.js';

/** Renders frames as plain text on a terminal, one block per frame. */
export class TerminalDisplay implements DisplayDriver {
  readonly name = 'terminal';

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  show(frame: Frame): void {
    this.out.write(renderText(frame) + '\n');
  }
}

export function renderText(f: Frame): string {
  const bar = '─'.repeat(36);
  switch (f.screen) {
    case 'idle':
      return [bar, `窗口 ${f.window}${f.windowName ? ` ${f.windowName}` : ''}`, f.staff ? `${f.staff.name}${f.staff.number ? `（工号 ${f.staff.number}）` : ''}` : '（无人值守）', bar].join('\n');
    case 'prompt':
      return [bar, f.text, ...(f.cases.length ? [`办件: ${f.cases.join(', ')}`] : []), ...f.levels.map((l) => `  [${l.button + 1}] ${l.label}`), bar].join('\n');
    case 'reasons':
      return [bar, `${f.text} (${f.page + 1}/${f.pages})`, ...f.options.map((o) => `  [${o.button + 1}] ${o.reason ? `${o.selected ? '☑' : '☐'} ${o.reason.code} ${o.reason.text}` : o.action}`), ...(f.qr ? [`扫码填写详情: ${f.qr}`] : []), bar].join('\n');
    case 'thanks':
      return [bar, f.text, bar].join('\n');
    case 'paused':
      return [bar, f.text, bar].join('\n');
    case 'out-of-service':
      return [bar, f.text, `(${f.fault})`, bar].join('\n');
  }
}
