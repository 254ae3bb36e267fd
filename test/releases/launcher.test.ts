/**
 * The installed launcher (a shell script, never replaced by an update) decides at each start
 * which release runs: the new one on probation, or the previous one when the new one has not
 * proven itself. Run with /bin/sh for real; the "node" it execs is a stand-in that prints the
 * release it was asked to run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launcherScript, MAX_START_ATTEMPTS } from '../../common/install/launcher.js';
import { ReleaseSlots } from '../../common/release/slots.js';

const scratch = mkdtempSync(join(tmpdir(), 'hcp-launcher-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A base with releases 1.0.0 and 1.1.0, 1.1.0 switched to on probation until `deadline`. */
function base(name: string, deadline: number): { slots: ReleaseSlots; start: () => string } {
  const dir = join(scratch, name);
  for (const v of ['1.0.0', '1.1.0']) mkdirSync(join(dir, 'releases', v, 'bin'), { recursive: true });
  const slots = new ReleaseSlots(dir);
  slots.switchTo('1.0.0');
  slots.switchTo('1.1.0', { deadline });
  const launcher = join(dir, 'launcher');
  // The stand-in for node: prints the release directory of the script it runs.
  const node = join(dir, 'fake-node');
  writeFileSync(node, '#!/bin/sh\nreadlink -f "$(dirname "$1")/.."\n', { mode: 0o755 });
  writeFileSync(launcher, launcherScript(dir, node), { mode: 0o755 });
  return {
    slots,
    start: () => {
      const r = spawnSync(launcher, ['device', 'run'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      return r.stdout.trim().split('/').pop()!;
    },
  };
}

describe('the launcher', () => {
  it('runs the new release on probation, and goes back to the previous one once it has started too often without confirming', () => {
    const { slots, start } = base('attempts', Math.floor(Date.now() / 1000) + 600);
    for (let i = 0; i < MAX_START_ATTEMPTS; i++) expect(start()).toBe('1.1.0');
    expect(start()).toBe('1.0.0');
    expect(slots.currentVersion()).toBe('1.0.0');
    expect(slots.failed()).toEqual({ version: '1.1.0', reason: `started ${MAX_START_ATTEMPTS} times without becoming healthy` });
    expect(slots.pending()).toBeNull();
    expect(start()).toBe('1.0.0');
  });

  it('goes back to the previous release when the deadline has passed (the agent exits at the deadline)', () => {
    const { slots, start } = base('deadline', Math.floor(Date.now() / 1000) - 1);
    expect(start()).toBe('1.0.0');
    expect(slots.failed()).toEqual({ version: '1.1.0', reason: 'not healthy by its deadline' });
  });

  it('a release that confirmed itself stays, however often it starts', () => {
    const { slots, start } = base('confirmed', Math.floor(Date.now() / 1000) + 600);
    expect(start()).toBe('1.1.0');
    slots.confirm();
    for (let i = 0; i < MAX_START_ATTEMPTS + 2; i++) expect(start()).toBe('1.1.0');
    expect(slots.failed()).toBeNull();
    expect(existsSync(join(slots.base, 'update-attempts'))).toBe(false);
  });

  it('a probation note for a release that is not current (a kill between the note and the switch) is dropped', () => {
    const { slots, start } = base('stale', Math.floor(Date.now() / 1000) - 1);
    // As if the kill came after the note and before `current` moved.
    slots.switchTo('1.0.0');
    writeFileSync(join(slots.base, 'update-pending'), `1.1.0 ${Math.floor(Date.now() / 1000) - 1}\n`);
    expect(start()).toBe('1.0.0');
    expect(existsSync(join(slots.base, 'update-pending'))).toBe(false);
    expect(slots.failed()).toBeNull();
  });
});
