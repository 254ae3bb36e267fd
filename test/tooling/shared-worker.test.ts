/**
 * Both lanes run file after file in one worker process (vitest.config.ts, `isolate: false`). The
 * guard around every file (test/helpers/shared-worker.ts) must fail a file that leaves process
 * state behind, name what it left, and put it back for the file after it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

it('fails the file that leaves an env var and fake timers behind, and the next file starts clean', () => {
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/fixtures/shared-worker/vitest.config.ts', '--reporter', 'json'],
    { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  );
  expect(r.status).toBe(1);
  const report = JSON.parse(r.stdout) as { testResults: { name: string; status: string; message: string }[] };
  const byFile = Object.fromEntries(report.testResults.map((t) => [t.name.replace(/.*\//, ''), t]));
  expect(byFile['a-leaves.fixture.ts']!.status).toBe('failed');
  expect(byFile['a-leaves.fixture.ts']!.message).toContain(
    'this file left process.env.HCP_LEFT_BEHIND, fake timers changed for the files after it',
  );
  expect(byFile['b-after.fixture.ts']!.status).toBe('passed');
});
