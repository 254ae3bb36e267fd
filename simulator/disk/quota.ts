/**
 * A device's "disk": its data directory on a tmpfs of its own with a size limit, so the
 * simulator can fill it the way a real SD card fills (logs, a stuck update) and the device's
 * SQLite writes meet a real ENOSPC. Needs root (mount); without it the fault is unavailable
 * and the simulator says so.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const FILLER = 'filler.bin';

export class DiskQuota {
  private filled = false;

  private constructor(
    readonly dir: string,
    readonly bytes: number,
  ) {}

  /** Mounts a tmpfs of `bytes` on `dir` (which must exist and be empty); null if not permitted. */
  static tryMount(dir: string, bytes: number): DiskQuota | null {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
      return new DiskQuota(dir, bytes);
    } catch {
      return null;
    }
  }

  get isFull(): boolean {
    return this.filled;
  }

  /** Fills every free byte with a file, as something else on the card would. */
  fill(): void {
    const fd = openSync(join(this.dir, FILLER), 'a');
    try {
      for (let chunk = 1 << 16; chunk >= 512; chunk >>= 1) {
        const buf = Buffer.alloc(chunk);
        try {
          for (;;) writeSync(fd, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        }
      }
    } finally {
      closeSync(fd);
    }
    this.filled = true;
  }

  free(): void {
    try {
      unlinkSync(join(this.dir, FILLER));
    } catch {
      /* already gone */
    }
    this.filled = false;
  }

  unmount(): void {
    try {
      execFileSync('umount', ['-l', this.dir], { stdio: 'ignore' });
    } catch {
      /* already unmounted */
    }
  }
}
