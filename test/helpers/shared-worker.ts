/**
 * Both lanes run file after file in one worker process (vitest.config.ts, `isolate: false`), so
 * what a file leaves behind in the process reaches the files after it. This runs around every
 * test file and fails the file that leaves process.env changed, fake timers on, or the working
 * directory moved, naming what it left (and puts it back, so the next file starts clean).
 * test/tooling/shared-worker.test.ts shows it doing so.
 */
import { afterAll, beforeAll, vi } from 'vitest';

let env: Record<string, string | undefined>;
let cwd: string;

beforeAll(() => {
  env = { ...process.env };
  cwd = process.cwd();
});

afterAll(() => {
  const left: string[] = [];
  for (const k of new Set([...Object.keys(env), ...Object.keys(process.env)])) {
    if (process.env[k] === env[k]) continue;
    left.push(`process.env.${k}`);
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  if (vi.isFakeTimers()) {
    left.push('fake timers');
    vi.useRealTimers();
  }
  if (process.cwd() !== cwd) {
    left.push(`the working directory (${process.cwd()})`);
    process.chdir(cwd);
  }
  if (left.length)
    throw new Error(
      `this file left ${left.join(', ')} changed for the files after it in the same worker; restore it in afterEach/afterAll`,
    );
});
