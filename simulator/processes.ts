import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_WITH_PARENT_ENV } from '../common/exit-with-parent.js';

/** The project root: the nearest folder above this file that holds bin/haochaping.js. */
function projectRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'haochaping.js'))) return dir;
    if (dirname(dir) === dir) throw new Error('cannot find bin/haochaping.js above ' + import.meta.url);
  }
}

/** The CLI entry point, whether this runs from dist/ or from the TypeScript sources. */
export const CLI_PATH = join(projectRoot(), 'bin', 'haochaping.js');

/**
 * Ports handed out by `freePort`: below Linux's ephemeral range (32768–60999; 49152–65535 on
 * macOS and Windows), from which the OS draws both `listen(0)` ports and the local port of
 * every outgoing connection. A port picked there and closed until the caller listens on it
 * again can be taken meanwhile by any client connecting anywhere on the machine (a full test
 * run makes thousands of connections: "listen EADDRINUSE" once in a few runs). Below it only
 * another caller of `freePort` could take it, and each process walks the range from its own
 * random start, never handing out the same port twice until it wraps.
 */
export const PICKED_PORTS = { from: 20_000, to: 32_000 } as const;
let nextPort = PICKED_PORTS.from + Math.floor(Math.random() * (PICKED_PORTS.to - PICKED_PORTS.from));

function canListen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** A port nothing listens on right now on loopback, outside the range the OS hands out itself. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = nextPort;
    nextPort = port + 1 >= PICKED_PORTS.to ? PICKED_PORTS.from : port + 1;
    if (await canListen(port)) return port;
  }
  // A machine with that whole stretch taken: let the OS pick (the race above applies again).
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** `port` if nothing listens on it on loopback right now, else a free one the OS picks. */
export function portOr(port: number): Promise<number> {
  if (port === 0) return freePort();
  return canListen(port).then((free) => (free ? port : freePort()));
}

export interface SpawnCliOptions {
  /**
   * A process group of its own, so that a signal to the caller's group (Ctrl-C in a terminal,
   * `timeout`, `kill -- -PGID`) does not reach it and the caller can stop it in its own order.
   * It still ends when the caller dies: it holds a pipe from the caller on stdin (see
   * common/exit-with-parent.ts).
   */
  detached?: boolean;
  /** Flags for node itself, before the script (e.g. --cpu-prof for a benchmark's profile). */
  nodeArgs?: string[];
}

/** Starts `haochaping <args>` as a child process with its output appended to `logFile`. */
export function spawnCli(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}, o: SpawnCliOptions = {}): ChildProcess {
  const out = openSync(logFile, 'a');
  try {
    const argv = [...(o.nodeArgs ?? []), CLI_PATH, ...args];
    if (!o.detached) return spawn(process.execPath, argv, { stdio: ['ignore', out, out], env: { ...process.env, ...env } });
    const child = spawn(process.execPath, argv, {
      stdio: ['pipe', out, out],
      detached: true,
      env: { ...process.env, ...env, [EXIT_WITH_PARENT_ENV]: 'stdin' },
    });
    child.stdin!.on('error', () => {}); // EPIPE once it is gone
    return child;
  } finally {
    closeSync(out); // the child has its own copy
  }
}

/** Polls `url` until it answers 200, the process dies, or the timeout passes. */
export async function waitHttpOk(url: string, timeoutMs = 20_000, child?: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child && child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before ${url} answered`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Sends `signal` and waits for the process to exit. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      res(code);
    });
    child.kill(signal);
  });
}

/**
 * A part of the hall run as its own `haochaping …` process (the hub, the stand-in province)
 * that the simulator can SIGKILL and start again on the same data and ports. It runs in its own
 * process group (see SpawnCliOptions.detached); `died` says it ended without being asked to.
 */
export class CliService extends EventEmitter<{ died: [why: string] }> {
  private child: ChildProcess | null = null;
  starts = 0;

  constructor(
    readonly name: string,
    private readonly args: string[],
    readonly logFile: string,
    private readonly healthUrl: string,
  ) {
    super();
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) return;
    const child = spawnCli(this.args, this.logFile, {}, { detached: true });
    this.child = child;
    this.starts++;
    try {
      await waitHttpOk(this.healthUrl, timeoutMs, child);
    } catch (e) {
      if (this.child === child) this.child = null;
      await stopProcess(child, 'SIGKILL');
      throw new Error(`${this.name} did not start: ${(e as Error).message}; see ${this.logFile}`);
    }
    const died = () => {
      if (this.child !== child) return; // stopped or killed by us
      this.child = null;
      this.emit('died', child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode}`);
    };
    if (child.exitCode !== null || child.signalCode !== null) died();
    else child.once('exit', died);
  }

  /** SIGKILL without waiting, for a process that is about to exit itself. */
  killNow(): void {
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  /** SIGKILL: no shutdown code runs, as in a power cut. */
  async kill(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c) await stopProcess(c, 'SIGKILL');
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c) await stopProcess(c, 'SIGTERM');
  }
}
