/**
 * The unit lane keeps its promise: it passes as a user who is not root, with every program and
 * font of the Debian packages the system lane drives hidden (scripts/check-unit-lane).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('npm run test:unit', () => {
  it.runIf(process.getuid?.() === 0)(
    'passes as the user nobody on a machine without the Debian packages',
    () => {
      const r = spawnSync(join(import.meta.dirname, '../../scripts/check-unit-lane'), { encoding: 'utf8', timeout: 170_000 });
      const out = stripVTControlCharacters(r.stdout + r.stderr);
      expect(out).toMatch(/check-unit-lane: hiding \d+ files of: mosquitto/);
      expect(out).toMatch(/Test Files\s+\S*\s*\d+ passed/);
      expect(out).not.toMatch(/failed/);
      expect(r.status).toBe(0);
    },
    180_000,
  );
});
