/**
 * Release slots on an installed machine: `releases/<version>/`, a `current` link the launcher
 * runs, a `previous` link to go back to, and the probation files of an update
 * (`update-pending`, `update-attempts`, `update-failed`; their meaning is in launcher.ts).
 * Every switch replaces a link with rename(2), so a power cut leaves the old or the new link.
 */
import { fsyncPath } from '../fsync.js';
import { existsSync, readFileSync, readlinkSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';

export interface Pending {
  version: string;
  /** Seconds since the epoch (the launcher compares it with `date +%s`). */
  deadline: number;
}


export class ReleaseSlots {
  readonly releasesDir: string;
  constructor(readonly base: string) {
    this.releasesDir = join(base, 'releases');
  }

  /** The slots of the release this process runs from, or null in a development checkout. */
  static ofRunningRelease(releaseRoot: string): ReleaseSlots | null {
    const releases = dirname(releaseRoot);
    if (basename(releases) !== 'releases') return null;
    const base = dirname(releases);
    return existsSync(join(base, 'current')) ? new ReleaseSlots(base) : null;
  }

  private linkVersion(name: 'current' | 'previous'): string | null {
    try {
      return basename(readlinkSync(join(this.base, name)));
    } catch {
      return null;
    }
  }

  currentVersion(): string | null {
    return this.linkVersion('current');
  }

  previousVersion(): string | null {
    return this.linkVersion('previous');
  }

  private setLink(name: 'current' | 'previous', version: string): void {
    const tmp = join(this.base, `.${name}.tmp-${process.pid}`);
    rmSync(tmp, { force: true });
    symlinkSync(join('releases', version), tmp);
    renameSync(tmp, join(this.base, name));
    fsyncPath(this.base);
  }

  /**
   * Makes `version` current. With a probation deadline the launcher returns to the release
   * running now unless the new one confirms it is healthy in time. Order matters for a kill at
   * any step: `previous` first, then the probation note, then `current` (a note for a version
   * that is not current is stale, and the launcher drops it).
   */
  switchTo(version: string, probation?: { deadline: number }): void {
    if (!existsSync(join(this.releasesDir, version))) throw new Error(`release ${version} is not unpacked`);
    const running = this.currentVersion();
    if (running === version) return;
    if (running !== null) this.setLink('previous', running);
    rmSync(join(this.base, 'update-attempts'), { force: true });
    if (probation) writeFileAtomic(join(this.base, 'update-pending'), `${version} ${Math.floor(probation.deadline)}\n`, 0o644);
    else rmSync(join(this.base, 'update-pending'), { force: true });
    this.setLink('current', version);
  }

  pending(): Pending | null {
    try {
      const [version, deadline] = readFileSync(join(this.base, 'update-pending'), 'utf8').trim().split(/\s+/);
      if (!version || deadline === undefined || version !== this.currentVersion()) return null;
      return { version, deadline: Number(deadline) };
    } catch {
      return null;
    }
  }

  /** The running (new) release is healthy: probation ends. */
  confirm(): void {
    rmSync(join(this.base, 'update-pending'), { force: true });
    rmSync(join(this.base, 'update-attempts'), { force: true });
    fsyncPath(this.base);
  }

  /** The last update the launcher rolled back, and why. */
  failed(): { version: string; reason: string } | null {
    try {
      const line = readFileSync(join(this.base, 'update-failed'), 'utf8').trim();
      const i = line.indexOf(' ');
      return i < 0 ? { version: line, reason: 'rolled back' } : { version: line.slice(0, i), reason: line.slice(i + 1) };
    } catch {
      return null;
    }
  }

  clearFailed(): void {
    rmSync(join(this.base, 'update-failed'), { force: true });
  }

  /** Removes unpacked releases other than current and previous (and leftovers of interrupted unpacks). */
  prune(): string[] {
    const keep = new Set([this.currentVersion(), this.previousVersion()]);
    const removed: string[] = [];
    if (!existsSync(this.releasesDir)) return removed;
    for (const name of readdirSync(this.releasesDir)) {
      if (keep.has(name)) continue;
      rmSync(join(this.releasesDir, name), { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }
}
