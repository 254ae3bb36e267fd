/**
 * `haochaping sim --interactive`: a hall in the terminal for a person. Pick a window, see its
 * screen as the e-ink panel shows it, press 1–5 as the citizen, and play the queue system and
 * the staff: finish a case (open a session), a batch of cases, cancel, log staff in and out,
 * pause the window. `v` shows what the stand-in province received from this window.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Staff } from '../../protocol/index.js';
import { formatAccount, type Ledger } from '../account.js';
import { Hall } from '../hall.js';
import type { SimDevice } from '../devices/sim-device.js';
import { deviceSettings } from '../sim.js';
import { renderPanel } from './panel.js';
import { savePanelPng } from './png.js';

export interface InteractiveOptions {
  devices: number;
  dataDir?: string;
  keep?: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
}

const STAFF: Staff[] = [
  { id: 'staff-001', name: '王芳', number: 'A001', photo: 'photos/a001.jpg' },
  { id: 'staff-002', name: '李娜', number: 'A002', photo: 'photos/a002.jpg' },
  { id: 'staff-003', name: '张伟', number: 'A003', photo: 'photos/a003.jpg' },
];

const HELP = [
  '按键: 1–5 评价按钮 · ←/→ 切换窗口 · v 省平台记录 · s 存PNG · q 退出',
  '排队系统/窗口: o 办结一件 · b 批量办结 · c 撤销 · l 登录/退出 · p 暂停/恢复',
];

export async function runInteractive(o: InteractiveOptions): Promise<void> {
  const input = o.input ?? process.stdin;
  const out = o.output ?? process.stdout;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'hcp-sim-'));
  mkdirSync(dataDir, { recursive: true });
  const log = pino({ level: 'info' }, pino.destination({ dest: join(dataDir, 'sim.log'), sync: false }));
  const started = Date.now();
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(`${new Date().toLocaleTimeString('zh-CN', { hour12: false })} ${s}`);
    if (notes.length > 6) notes.shift();
  };
  out.write(`启动中… 数据和日志: ${dataDir}\n`);
  // Real-time timeouts (a 60 s prompt): a person is pressing, not a script.
  const hall = new Hall({
    dataDir,
    devices: o.devices,
    processes: false,
    proxies: false,
    diskBytes: null,
    settings: deviceSettings({ play: 'day', speed: 1 }),
    log,
    progress: (l) => out.write(l + '\n'),
  });
  await hall.start();
  const ledger: Ledger = { thanked: new Map(), notRated: 0, sessions: 0, attempts: 0, outOfService: 0 };
  const staffOf = new Map<string, Staff | null>();
  let selected = 0;
  let provinceView: string[] | null = null;
  let caseNo = 0;
  /** The session last opened at each window, so `c` can cancel the one on screen. */
  const lastSession = new Map<string, string>();
  let counts = { stored: '?' as number | string, forwarded: '?' as number | string };

  const current = (): SimDevice => hall.devices[selected]!;
  const draw = () => {
    const d = current();
    const tabs = hall.devices.map((x, i) => (i === selected ? `[${x.window}]` : ` ${x.window} `)).join(' ');
    const lines = [
      `好差评 模拟大厅 · ${hall.devices.length} 个窗口 · 省平台(模拟) ${hall.provinceUrl}`,
      `窗口: ${tabs}`,
      '',
      ...renderPanel(d.frame, staffOf.get(d.id) ?? null, `窗口 ${d.window} · ${d.id}${d.connected ? '' : ' · 离线'}`),
      '',
      `已评价(显示感谢) ${ledger.thanked.size} · 未评价 ${ledger.notRated} · 中心已存 ${counts.stored} · 省平台已收 ${counts.forwarded}`,
      ...(provinceView ?? notes.map((n) => `  ${n}`)),
      '',
      ...HELP,
    ];
    out.write('\x1b[H\x1b[2J' + lines.join('\n') + '\n');
  };

  for (const d of hall.devices) {
    d.on('frame', () => d === current() && draw());
    d.on('thanked', (r) => {
      ledger.thanked.set(r.id, r);
      note(`窗口 ${d.window}: 评价已保存 (级别 ${r.level}${r.reasons.length ? `, 原因 ${r.reasons.join(',')}` : ''}) seq ${r.seq}`);
    });
    d.on('stored', (r) => {
      if (r.kind === 'not-rated') {
        ledger.notRated++;
        note(`窗口 ${d.window}: 未评价（超时），待 7 天默认好评`);
      }
    });
    const staff = STAFF[hall.devices.indexOf(d) % STAFF.length]!;
    if (await hall.queue.staffLogIn(d, staff)) staffOf.set(d.id, staff);
  }

  const showProvince = async () => {
    const d = current();
    const entries = await hall.provinceEntries().catch(() => []);
    const mine = entries.filter((e) => e.record?.device === d.id).slice(-6);
    provinceView = [
      `省平台收到窗口 ${d.window} 的评价 ${entries.filter((e) => e.record?.device === d.id).length} 条（最近 ${mine.length} 条；任意键返回）:`,
      ...mine.map(
        (e) =>
          `  ${e.kind} 级别 ${e.record!.level} 原因 ${e.record!.reasons.join(',') || '-'} ${e.record!.flags.length ? `标记 ${e.record!.flags.join(',')} ` : ''}seq ${e.record!.seq} id …${e.id.slice(-8)}`,
      ),
    ];
  };

  const refresh = setInterval(async () => {
    const [h, p] = await Promise.all([hall.hubStats(), hall.provinceStats()]);
    counts = { stored: h?.ratings ?? '?', forwarded: p?.accepted ?? '?' };
    draw();
  }, 1000);

  let quit: () => void = () => {};
  const done = new Promise<void>((res) => (quit = res));
  const onKey = async (key: string) => {
    const d = current();
    if (key === 'q' || key === '\u0003') return quit();
    if (provinceView && key !== 'v') {
      provinceView = null;
      return draw();
    }
    if (key >= '1' && key <= '5') {
      ledger.attempts++;
      if (!d.press(Number(key) - 1)) note('设备未运行');
    } else if (key === '\x1b[C' || key === '\t') selected = (selected + 1) % hall.devices.length;
    else if (key === '\x1b[D') selected = (selected + hall.devices.length - 1) % hall.devices.length;
    else if (key === 'o' || key === 'b') {
      const n = key === 'b' ? 3 : 1;
      const cases = Array.from({ length: n }, () => `${d.window}-${String(++caseNo).padStart(5, '0')}`);
      const s = await hall.queue.openSession(d, {
        cases,
        itemCode: '11100000MB0143210A',
        itemName: '居民身份证换领',
        staffId: staffOf.get(d.id)?.id ?? null,
      });
      if (s) {
        ledger.sessions++;
        lastSession.set(d.id, s.id);
      }
      note(s ? `排队系统: 窗口 ${d.window} 办结 ${cases.join(', ')}` : '设备未运行，办件未送达');
    } else if (key === 'c') {
      const open = d.frame?.screen === 'prompt' ? d.frame : null;
      note(open ? '排队系统: 撤销当前办件' : '没有待评价的办件');
      const id = lastSession.get(d.id);
      if (open && id) await hall.queue.cancelSession(d, id);
    } else if (key === 'l') {
      const s = staffOf.get(d.id);
      if (s) {
        await hall.queue.staffLogOut(d);
        staffOf.set(d.id, null);
        note(`${s.name} 退出窗口 ${d.window}`);
      } else {
        const staff = STAFF[selected % STAFF.length]!;
        await hall.queue.staffLogIn(d, staff);
        staffOf.set(d.id, staff);
        note(`${staff.name} 登录窗口 ${d.window}`);
      }
    } else if (key === 'p') {
      const paused = d.frame?.screen !== 'paused';
      await hall.queue.setPaused(d, paused);
      note(paused ? `窗口 ${d.window} 暂停服务` : `窗口 ${d.window} 恢复服务`);
    } else if (key === 'v') await showProvince();
    else if (key === 's') {
      const file = join(dataDir, `screen-${d.window}-${Date.now()}.png`);
      try {
        await savePanelPng(d.frame, file);
        note(`屏幕已保存: ${file}`);
      } catch (e) {
        const txt = file.replace(/\.png$/, '.txt');
        writeFileSync(txt, renderPanel(d.frame, staffOf.get(d.id) ?? null, `窗口 ${d.window}`).join('\n') + '\n');
        note(`PNG 不可用 (${(e as Error).message})；文本已保存: ${txt}`);
      }
    }
    draw();
  };

  const onData = (chunk: Buffer) => {
    const s = chunk.toString('utf8');
    const keys = s.startsWith('\x1b') ? [s] : [...s];
    for (const k of keys) void onKey(k);
  };
  if (input.isTTY) input.setRawMode(true);
  input.on('data', onData);
  input.resume();
  draw();
  await done;
  clearInterval(refresh);
  input.off('data', onData);
  if (input.isTTY) input.setRawMode(false);
  input.pause();
  out.write('\x1b[H\x1b[2J正在结束…\n');
  const account = await hall.account(ledger, false, Math.round((Date.now() - started) / 1000)).catch(() => null);
  await hall.stop();
  if (account) out.write(formatAccount(account) + '\n');
  log.flush?.();
  if (!o.dataDir && !o.keep) rmSync(dataDir, { recursive: true, force: true });
}
