/**
 * bench/backlog.ts at a tiny size, from dist/ as `npm run bench:backlog` runs it: the real hub
 * and stand-in province processes, device processes with real outboxes and links. The bench's
 * own checks (every record once, in seq order, the same on both sides) must pass, and it must
 * leave nothing behind: no directory, no process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killProcessesMentioning, processesMentioning } from '../helpers/procs.js';

const tmp = mkdtempSync(join(tmpdir(), 'hcp-backlog-test-'));
afterAll(() => {
  killProcessesMentioning(tmp);
  rmSync(tmp, { recursive: true, force: true });
});

function runBench(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['dist/bench/backlog.js', ...args], { env: { ...process.env, TMPDIR: tmp } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('close', (code) => res({ code, out, err }));
  });
}

describe('the backlog bench', () => {
  it('drains every device outbox into the hub and on to the province, checks each record once and in order, and cleans up', async () => {
    const r = await runBench(['--devices', '4', '--records', '30', '--processes', '2', '--timeout', '90']);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out.trim().split('\n').pop()!) as {
      records: number;
      allAckedS: number;
      forwardCaughtUpS: number;
      hub: Record<string, number>;
      outboxes: Record<string, number>;
      province: { accepted: number; duplicatesReceived: number };
      failures: string[];
    };
    expect(s.failures).toEqual([]);
    expect(s.records).toBe(120);
    expect(s.allAckedS).toBeGreaterThan(0);
    expect(s.forwardCaughtUpS).toBeGreaterThan(0);
    expect(s.hub).toMatchObject({ stored: 120, distinctIds: 120, devicesOutOfOrder: 0, devicesNotMatchingOutbox: 0, gaps: 0 });
    expect(s.outboxes).toEqual({ delivered: 120, undelivered: 0, refused: 0, incomplete: 0 });
    expect(s.province).toMatchObject({ accepted: 120, duplicatesReceived: 0 });
    expect(readdirSync(tmp)).toEqual([]);
    expect(processesMentioning(tmp)).toEqual([]);
  }, 120_000);
});
