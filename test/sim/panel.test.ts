import { describe, expect, it } from 'vitest';
import type { Frame } from '../../device/display/types.js';
import { panelBody, renderPanel } from '../../simulator/interactive/panel.js';
import { savePanelPng } from '../../simulator/interactive/png.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const staff = { id: 's1', name: '王芳', number: 'A001', photo: 'photos/a001.jpg' };
const reasons: Frame = {
  screen: 'reasons',
  text: '请选择不满意的原因',
  level: 2,
  page: 0,
  pages: 2,
  qr: 'https://hcp.example/feedback?d=sim-01',
  options: [
    { button: 0, reason: { code: '207', level: 2, text: '没有提供材料样本' }, selected: true },
    { button: 1, reason: { code: '214', level: 2, text: '服务态度生硬' } },
    { button: 3, reason: null, action: 'next' },
    { button: 4, reason: null, action: 'done' },
  ],
};

describe('a device screen drawn as its e-ink panel', () => {
  it('shows the staff card, the prompt with its buttons, and the cases of a batch', () => {
    const text = panelBody(
      {
        screen: 'prompt',
        text: '请您对本次服务做出评价',
        staff,
        cases: ['a', 'b', 'c'],
        levels: [{ button: 0, level: 5, label: '非常满意' }],
      },
      null,
    ).join('\n');
    expect(text).toMatch(/王芳 {2}工号 A001/);
    expect(text).toMatch(/照片: photos\/a001.jpg/);
    expect(text).toMatch(/办件 a, b 等 3 件/);
    expect(text).toMatch(/\[1\] 非常满意/);
  });

  it('shows reasons with their codes, what is ticked, the actions, and a QR code', () => {
    const text = panelBody(reasons, null).join('\n');
    expect(text).toMatch(/\[1\] ☑ 207 没有提供材料样本/);
    expect(text).toMatch(/\[2\] ☐ 214 服务态度生硬/);
    expect(text).toMatch(/\[4\] 下一页/);
    expect(text).toMatch(/\[5\] 确认提交/);
    expect(text).toMatch(/█/); // the QR code
  });

  it('keeps the frame straight with double-width Chinese characters', () => {
    const lines = renderPanel(reasons, null, '窗口 01');
    const widths = new Set(lines.map((l) => [...l].reduce((n, ch) => n + (/[\u3000-\u9fff\uff00-\uffef]/.test(ch) ? 2 : 1), 0)));
    expect(widths.size).toBe(1);
  });

  it('out-of-service and thank-you screens say so', () => {
    expect(panelBody({ screen: 'out-of-service', text: '设备暂停使用', fault: 'disk-full' }, null).join('\n')).toMatch(
      /设备暂停使用[\s\S]*disk-full/,
    );
    expect(panelBody({ screen: 'thanks', text: '感谢您的评价', level: 1, qr: null }, null).join('\n')).toMatch(
      /感谢您的评价[\s\S]*非常不满意/,
    );
  });

  it('saves the screen as a PNG of the panel size (800×480)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-png-'));
    try {
      await savePanelPng(reasons, join(dir, 's.png'));
      const png = readFileSync(join(dir, 's.png'));
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.readUInt32BE(16)).toBe(800); // IHDR width
      expect(png.readUInt32BE(20)).toBe(480);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
