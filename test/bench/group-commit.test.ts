/**
 * bench/group-commit.ts at a tiny size, from dist/ as `npm run bench:commit` runs it: the real hub
 * in the bench's process stores every record (the bench fails otherwise), both sides are measured
 * over the same records, and nothing is left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const tmp = mkdtempSync(join(tmpdir(), 'hcp-commit-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('measures the hub’s group commit and the bare insert over the same records, and cleans up', async () => {
  const r = await new Promise<{ code: number | null; out: string; err: string }>((res) => {
    const child = spawn(process.execPath, ['dist/bench/group-commit.js', '--devices', '10', '--records', '20', '--json'], {
      env: { ...process.env, TMPDIR: tmp },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('close', (code) => res({ code, out, err }));
  });
  expect(r.code, r.err).toBe(0);
  const s = JSON.parse(r.out.trim().split('\n').pop()!) as {
    measuredRecords: number;
    maxBatch: number;
    hub: { commitUsPerRecord: number; commits: number; walPagesPerRecord: number };
    bare: { commitUsPerRecord: number; commits: number; walPagesPerRecord: number };
  };
  // 200 records: the first 180 timed on each side, the last 20 counted for WAL pages.
  expect(s.measuredRecords).toBe(180);
  expect(s.maxBatch).toBe(500);
  expect(s.hub.commits).toBeGreaterThan(0);
  expect(s.bare.commits).toBe(1);
  expect(s.hub.commitUsPerRecord).toBeGreaterThan(0);
  expect(s.bare.commitUsPerRecord).toBeGreaterThan(0);
  // The hub writes the rating, its chain head, the province queue row and its payload: more than the bare row.
  expect(s.hub.walPagesPerRecord).toBeGreaterThan(s.bare.walPagesPerRecord);
  expect(readdirSync(tmp)).toEqual([]);
}, 60_000);
