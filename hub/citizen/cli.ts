/** `haochaping hub window board`: a window's printable QR board from the running hub (GET /api/windows/:window/board). */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { HubTarget } from '../cli/api-client.js';
import { api, run, target } from '../cli/commands.js';

export function registerWindowCommands(hub: Command): void {
  const window = hub.command('window').description("a window's printable things");
  target(window.command('board'))
    .description("make a window's QR board (A5): PDF, or a 300 dpi PNG; the QR leads where the hub's citizen.board.target says")
    .requiredOption('--window <window>', 'window (counter) number, e.g. 12')
    .requiredOption('--out <file>', 'where to write it: .pdf or .png', (v: string) => {
      if (!['.pdf', '.png'].includes(extname(v).toLowerCase())) throw new InvalidArgumentError('--out must end in .pdf or .png');
      return v;
    })
    .action(
      run(async (o: HubTarget & { window: string; out: string; json: boolean }) => {
        const format = extname(o.out).toLowerCase().slice(1);
        const r = await api(o).download(`/api/windows/${encodeURIComponent(o.window)}/board?format=${format}`);
        writeFileSync(o.out, r.body);
        const url = r.headers.get('x-board-url');
        console.log(
          o.json
            ? JSON.stringify({ window: o.window, file: o.out, format, bytes: r.body.length, url })
            : `窗口 window ${o.window} 二维码牌 board → ${o.out}（${format.toUpperCase()}，A5）\n二维码指向 QR leads to: ${url}`,
        );
      }),
    );
}
