import { readdirSync, readFileSync } from 'node:fs';

/** Live processes (zombies have no command line) whose command line mentions `text`, read from /proc. */
export function processesMentioning(text: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmd.includes(text)) out.push({ pid: Number(name), cmd });
    } catch {
      /* ended while we looked */
    }
  }
  return out;
}

/** True while `pid` runs (a zombie, dead but not yet reaped, counts as ended). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILLs whatever a failed test left running, by PID (only processes naming `text`, e.g. the run's directory). */
export function killProcessesMentioning(text: string): void {
  for (const p of processesMentioning(text)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
