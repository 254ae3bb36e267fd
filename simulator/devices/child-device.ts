/**
 * An evaluator as its own process: `haochaping device run --control stdio`. A kill is a real
 * SIGKILL; a restart runs the same data directory, so it continues the same outbox, sequence
 * and hash chain. What the process wrote on stdout before it died is still read (the pipe
 * keeps it), which is what "the device reported it" means.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DeviceConfig, SessionMessage } from '../../protocol/index.js';
import type { Frame } from '../../device/display/types.js';
import { CLI_PATH } from '../processes.js';
import { DEVICE_NODE_OPTIONS } from '../../common/install/units.js';
import type { ControlCommand, ControlEvent } from '../../device/control/commands.js';
import { SimDevice } from './sim-device.js';

export interface ChildDeviceOptions {
  logFile: string;
  logLevel?: string;
  /** Extra node flags, e.g. a smaller heap for hundreds of devices. */
  nodeArgs?: string[];
}

export class ChildDevice extends SimDevice {
  private child: ChildProcess | null = null;
  private ready = false;
  private closed: Promise<void> = Promise.resolve();
  /** Why the last process ended, for the supervisor: 'killed' when we did it. */
  private expectingExit: string | null = null;
  restarts = 0;
  bootId: string | null = null;

  constructor(
    id: string,
    window: string,
    dir: string,
    private readonly o: ChildDeviceOptions,
  ) {
    super(id, window, dir);
  }

  get alive(): boolean {
    return this.child !== null && this.ready;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child) return;
    const out = openSync(this.o.logFile, 'a');
    const child = spawn(
      process.execPath,
      [
        ...(this.o.nodeArgs ?? []),
        CLI_PATH,
        'device',
        'run',
        '--data',
        this.dir,
        '--control',
        'stdio',
        '--clock-synced',
        '--log-level',
        this.o.logLevel ?? 'warn',
      ],
      // Its own process group: a Ctrl-C to the simulator's group must not stop it before the
      // simulator has drained it. It still ends with the simulator: its stdin closes.
      // Started as the device's systemd unit starts it (its NODE_OPTIONS): the same memory per device.
      {
        stdio: ['pipe', 'pipe', out],
        detached: true,
        env: { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS, DEVICE_NODE_OPTIONS].filter(Boolean).join(' ') },
      },
    );
    closeSync(out);
    this.child = child;
    this.ready = false;
    this.expectingExit = null;
    child.stdin!.on('error', () => {}); // EPIPE after a kill: the press simply did not happen
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => this.onLine(l));
    this.closed = new Promise((res) =>
      child.once('close', (code, signal) => {
        const expected = this.expectingExit;
        if (this.child === child) {
          this.child = null;
          this.ready = false;
          this.onDown(expected ?? `exited (${signal ?? code})`);
        }
        res();
      }),
    );
    const until = Date.now() + timeoutMs;
    while (!this.ready) {
      if (this.child !== child) throw new Error(`device ${this.id} exited while starting; see ${this.o.logFile}`);
      if (Date.now() > until) {
        child.kill('SIGKILL');
        throw new Error(`device ${this.id} did not start within ${timeoutMs} ms; see ${this.o.logFile}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    this.emit('up');
  }

  private onLine(line: string): void {
    let e: ControlEvent;
    try {
      e = JSON.parse(line) as ControlEvent;
    } catch {
      return;
    }
    switch (e.ev) {
      case 'ready':
        this.ready = true;
        this.bootId = e.bootId;
        this.lastSeq = e.lastSeq;
        this.config = e.config as DeviceConfig;
        break;
      case 'stored':
        this.onStored({
          device: this.id,
          id: e.id,
          seq: e.seq,
          kind: e.kind,
          level: e.level,
          reasons: e.reasons,
          session: e.session,
          flags: e.flags,
        });
        break;
      case 'frame':
        this.onFrame(e.frame as Frame);
        break;
      case 'depth':
        this.depth = e.depth;
        this.lastSeq = Math.max(this.lastSeq, e.lastSeq);
        break;
      case 'link':
        this.connected = e.connected;
        break;
      case 'error':
        break;
    }
  }

  private send(c: ControlCommand): boolean {
    const child = this.child;
    if (!child || !this.ready || !child.stdin!.writable) return false;
    child.stdin!.write(JSON.stringify(c) + '\n');
    return true;
  }

  press(i: number): boolean {
    return this.send({ op: 'press', button: i });
  }

  deliverSession(m: SessionMessage): boolean {
    return this.send({ op: 'session', message: m });
  }

  deliverConfig(c: DeviceConfig): boolean {
    this.config = c;
    return this.send({ op: 'config', config: c });
  }

  /** A power cut: SIGKILL, and wait until everything it reported has been read. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.expectingExit = 'killed';
    child.kill('SIGKILL');
    await this.closed;
  }

  /** SIGKILL without waiting, for a simulator that is about to exit. */
  killNow(): void {
    const child = this.child;
    if (!child) return;
    this.expectingExit = 'killed';
    child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.expectingExit = 'stopped';
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.kill('SIGTERM');
    await this.closed;
    clearTimeout(t);
  }

  async restart(): Promise<void> {
    await this.kill();
    this.restarts++;
    await this.start();
  }
}
