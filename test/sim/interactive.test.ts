/**
 * The interactive simulator tried as a new user would: in a real terminal (tmux), read the
 * screen, finish a case as the queue system, press a 差评 as the citizen, pick a reason, see
 * the thank-you, and find the rating at the stand-in province — all through keys and what
 * the screen shows (send-keys / capture-pane), nothing else.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';
import { sleep, waitFor } from '../helpers/wait.js';

class Tmux {
  private readonly socket = `hcp-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  constructor(readonly session = 'sim') {}
  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }
  start(command: string): void {
    this.tmux('new-session', '-d', '-s', this.session, '-x', '110', '-y', '50', command);
  }
  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.session, ...keys);
  }
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.session);
  }
  async waitScreen(re: RegExp, what: string, timeoutMs = 30_000): Promise<string> {
    return waitFor(() => (re.test(this.screen()) ? this.screen() : null), `${what} on screen`, timeoutMs, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n--- screen ---\n${this.screen()}`);
    });
  }
  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      /* already gone */
    }
  }
}

describe('interactive mode in a terminal', () => {
  let tmux: Tmux | null = null;
  let dir = '';
  afterEach(async () => {
    // Quit as a user would, and let the sim stop its hub and province before the terminal goes.
    try {
      tmux?.keys('q');
      await tmux?.waitScreen(/SIM-EXITED/, 'the sim to exit', 20_000);
    } catch {
      /* the terminal is gone already */
    }
    tmux?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<Tmux> {
    dir = mkdtempSync(join(tmpdir(), 'hcp-tmux-'));
    tmux = new Tmux();
    tmux.start(`${process.execPath} ${CLI_PATH} sim --interactive --devices 2 --data ${dir}; echo SIM-EXITED; sleep 60`);
    await tmux.waitScreen(/窗口: \[01\]/, 'the hall with window 01 selected', 60_000);
    await tmux.waitScreen(/王芳/, 'the staff card of the staff member on duty');
    return tmux;
  }

  /** Finishes a case as the queue system and presses 非常不满意 (button 5) as the citizen. */
  async function badReview(t: Tmux): Promise<string> {
    t.keys('o');
    await t.waitScreen(/请您对本次服务做出评价[\s\S]*\[5\] 非常不满意/, 'the prompt with five buttons');
    t.keys('5');
    return t.waitScreen(/请选择不满意的原因|感谢您的评价/, 'the reason screen or the thank-you');
  }

  it('a 差评 whose citizen skips the reasons reaches the stand-in province, flagged no-reason', async () => {
    const t = await open();
    const after = await badReview(t);
    const skip = /\[(\d)\] 跳过/.exec(after);
    if (skip) {
      await sleep(1500); // reads the reasons (the same button again at once would be a double press)
      t.keys(skip[1]!);
    }
    const thanks = await t.waitScreen(/感谢您的评价/, 'thank-you');
    expect(thanks).toMatch(/非常不满意/);
    await t.waitScreen(/省平台已收 1/, 'the province count');
    t.keys('s');
    const saved = await t.waitScreen(/屏幕已保存: (\S+\.png)/, 'the screen saved as a PNG');
    expect(
      readFileSync(/屏幕已保存: (\S+\.png)/.exec(saved)![1]!)
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    t.keys('v');
    const province = await t.waitScreen(/省平台收到窗口 01 的评价 1 条/, 'the province view');
    expect(province).toMatch(/rating 级别 1 原因 - .*no-reason/);
  }, 120_000);

  it('a 差评 with a reason chosen on the reason screen reaches the province with that reason code', async (ctx) => {
    const t = await open();
    const after = await badReview(t);
    if (!/请选择不满意的原因/.test(after)) {
      // This build's device flow has no reason screen yet (device issue 3); the Frame contract has it.
      ctx.skip('the device in this build shows no reason screen (needs the device issue merged)');
    }
    const first = /\[(\d)\] ☐ (1\d\d) /.exec(after);
    expect(first, after).not.toBeNull();
    const [, button, code] = first!;
    t.keys(button!);
    const picked = await t.waitScreen(new RegExp(`☑ ${code} `), `reason ${code} ticked`);
    const confirm = /\[(\d)\] 确认提交/.exec(picked);
    expect(confirm, picked).not.toBeNull();
    t.keys(confirm![1]!);
    await t.waitScreen(/感谢您的评价/, 'thank-you');
    await t.waitScreen(/省平台已收 1/, 'the province count');
    t.keys('v');
    const province = await t.waitScreen(/省平台收到窗口 01 的评价 1 条/, 'the province view');
    expect(province).toMatch(new RegExp(`rating 级别 1 原因 ${code} `));
  }, 120_000);
});
