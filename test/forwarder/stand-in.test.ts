import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRequestBody, mapEvaluation } from '../../hub/forwarder/mapping.js';
import { loadProfile } from '../../hub/forwarder/profile.js';
import { freePort, spawnCli, stopProcess, waitHttpOk } from '../../simulator/processes.js';
import { hubEvaluation } from './helpers.js';

let proc: ChildProcess | null = null;
let dir = '';
afterEach(async () => {
  if (proc) await stopProcess(proc);
  proc = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function standIn(args: string[]): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'hcp-standin-'));
  const port = await freePort();
  proc = spawnCli(
    ['province', '--port', String(port), '--log-level', 'warn', ...args.map((a) => a.replace('$DIR', dir))],
    join(dir, 'province.log'),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHttpOk(`${url}/api/health`, 20_000, proc);
  return url;
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/evaluations`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

describe('the stand-in province (`haochaping province`)', () => {
  it('speaks the common format, takes faults from flags and changes them at run time through /admin/faults', async () => {
    const url = await standIn(['--profile', 'common', '--fail-500', '1', '--reject', 'satisfaction=^1$=非常不满意须附评价内容']);
    const common = loadProfile('common');
    const ctx = { areaCode: '420100', deptCode: 'D1' };
    const ok = hubEvaluation({ level: 3 });
    const bad = hubEvaluation({ level: 1, kind: 'rating', reasons: ['115'] });
    const body = buildRequestBody(
      common,
      [ok, bad].flatMap((e) => mapEvaluation(common, e, ctx)),
    );

    expect((await post(url, body)).status).toBe(500);
    expect(await json(await fetch(`${url}/admin/faults`))).toMatchObject({
      error500: 1,
      rejectRules: [{ field: 'satisfaction', pattern: '^1$' }],
    });
    const patched = await fetch(`${url}/admin/faults`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"error500":0}',
    });
    expect(await json(patched)).toMatchObject({ error500: 0 });

    expect(await json(await post(url, body))).toEqual({
      results: [
        { evaluationId: ok.id, status: 'accepted' },
        { evaluationId: bad.id, status: 'rejected', reason: '非常不满意须附评价内容' },
      ],
    });
    expect(await json(await post(url, body))).toMatchObject({
      results: [{ evaluationId: ok.id, status: 'duplicate' }, { status: 'rejected' }],
    });
    // Not the common format: refused as a whole.
    expect((await post(url, '{"data":[]}')).status).toBe(400);
    const wrong = await fetch(`${url}/admin/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"error500":0.7,"drop":0.5}',
    });
    expect(wrong.status).toBe(400);
    expect(await json(await fetch(`${url}/api/stats`))).toMatchObject({
      accepted: 1,
      duplicatesReceived: 1,
      rejected: 2,
      faults: { error500: 1 },
    });
    const stored = (await json(await fetch(`${url}/api/evaluations`))) as {
      records: { key: string; received: number; record: Record<string, unknown> }[];
    };
    expect(stored.records).toEqual([{ n: 1, key: ok.id, received: 2, record: mapEvaluation(common, ok, ctx)[0]!.body }]);
  });

  it('insists on the bearer token it was given', async () => {
    const d = mkdtempSync(join(tmpdir(), 'hcp-tok-'));
    writeFileSync(join(d, 'token'), 'abc\n');
    try {
      const url = await standIn(['--token-file', join(d, 'token')]);
      const body = buildRequestBody(loadProfile('native'), [{ key: 'k', body: hubEvaluation() as unknown as Record<string, unknown> }]);
      expect((await post(url, body)).status).toBe(401);
      expect((await post(url, body, { authorization: 'Bearer abc' })).status).toBe(200);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
