/**
 * A window's printable QR board: `haochaping hub window board` (the real CLI against a running
 * hub) writes an A5 PNG and PDF whose QR decodes, with jsQR, to the configured target.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardTarget } from '../../hub/citizen/board.js';
import { CLI_PATH } from '../../simulator/processes.js';
import type { TestHall } from '../helpers/hall.js';
import { citizenDevice, citizenHall, decodeGrey, decodePng } from './helpers.js';

const TEMPLATE = 'https://zwfw.example.gov.cn/hcp/eval?area={area}&dept={dept}&win={window}';
let hall: TestHall;

beforeAll(async () => {
  hall = await citizenHall({ hubConfig: { citizen: { board: { target: TEMPLATE } } } });
  await citizenDevice(hall, '12');
}, 60_000);
afterAll(async () => {
  await hall?.close();
});

/** The one image of a board PDF: its size from the dictionary, its pixels inflated from the stream. */
function pdfImage(pdf: Buffer): { grey: Buffer; width: number; height: number } {
  const text = pdf.toString('latin1');
  const dict = /\/Subtype \/Image \/Width (\d+) \/Height (\d+)[^>]*\/Length (\d+) >>\nstream\n/.exec(text)!;
  const start = dict.index + dict[0].length;
  return { grey: inflateSync(pdf.subarray(start, start + Number(dict[3]))), width: Number(dict[1]), height: Number(dict[2]) };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) =>
    execFile(process.execPath, [CLI_PATH, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe("a window's QR board", () => {
  it('the CLI writes an A5 PNG at 300 dpi whose QR decodes to the province URL template filled in for the window', async () => {
    const out = join(hall.dir, 'w12.png');
    const r = await cli(['hub', 'window', 'board', '--hub', hall.hubUrl, '--token', hall.adminToken, '--window', '12', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const want = 'https://zwfw.example.gov.cn/hcp/eval?area=420100&dept=D1&win=12';
    expect(r.stdout).toContain(want);
    const png = decodePng(readFileSync(out));
    expect({ width: png.width, height: png.height }).toEqual({ width: 1748, height: 2480 });
    expect(png.url).toBe(want);
  }, 60_000);

  it('the PDF is one A5 page whose image’s QR decodes to the same URL', async () => {
    const r = await fetch(`${hall.hubUrl}/api/windows/12/board?format=pdf`, { headers: { authorization: `Bearer ${hall.adminToken}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/pdf');
    const pdf = Buffer.from(await r.arrayBuffer());
    expect(pdf.subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');
    expect(pdf.toString('latin1')).toContain('/MediaBox [0 0 419.53 595.28]');
    const img = pdfImage(pdf);
    expect(decodeGrey(img.grey, img.width, img.height)).toBe('https://zwfw.example.gov.cn/hcp/eval?area=420100&dept=D1&win=12');
  }, 60_000);

  it('an unknown window, a wrong file name and a missing token get clear answers', async () => {
    const unknown = await cli([
      'hub',
      'window',
      'board',
      '--hub',
      hall.hubUrl,
      '--token',
      hall.adminToken,
      '--window',
      '99',
      '--out',
      join(hall.dir, 'x.pdf'),
    ]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/no device is registered at window 99/);
    const badOut = await cli([
      'hub',
      'window',
      'board',
      '--hub',
      hall.hubUrl,
      '--token',
      hall.adminToken,
      '--window',
      '12',
      '--out',
      'board.jpg',
    ]);
    expect(badOut.code).not.toBe(0);
    expect(badOut.stderr).toMatch(/\.pdf or \.png/);
    expect((await fetch(`${hall.hubUrl}/api/windows/12/board`)).status).toBe(401);
  }, 60_000);
});

describe('the board target', () => {
  it("'hub' leads to the hub's page for the window under the hall's public citizen address; a template without its values says what is missing", () => {
    const base = { window: '12', areaCode: null, deptCode: null };
    expect(boardTarget({ ...base, target: 'hub', citizenBase: 'https://gw.example/hcp/citizen/' })).toBe(
      'https://gw.example/hcp/citizen/w/12',
    );
    expect(() => boardTarget({ ...base, target: 'hub', citizenBase: null })).toThrow(/feedbackUrl/);
    expect(() => boardTarget({ ...base, target: TEMPLATE, citizenBase: null })).toThrow(/areaCode/);
    expect(boardTarget({ ...base, areaCode: 'A', deptCode: 'D/1', target: TEMPLATE, citizenBase: null })).toBe(
      'https://zwfw.example.gov.cn/hcp/eval?area=A&dept=D%2F1&win=12',
    );
    expect(() => boardTarget({ ...base, target: 'https://x.example/{room}', citizenBase: null })).toThrow(/unknown placeholder/);
  });
});
