/** What the benches read about a process from /proc (Linux; NaN elsewhere or once it is gone). */
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) the process has used so far. */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) this process has used so far. */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Waits until the process has used at most `busyShare` of a core over a half second (at most
 * `timeoutMs`): a hub that has finished what it took in (its catch-up of the hall page included).
 */
export async function untilIdle(pid: number | undefined, busyShare = 0.05, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let before = cpuSecondsOf(pid);
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    const now = cpuSecondsOf(pid);
    if (!(now - before > busyShare * 0.5)) return;
    before = now;
  }
}

/** Resident memory in MiB. */
export function rssMiB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}
