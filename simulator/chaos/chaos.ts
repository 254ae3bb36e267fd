/**
 * Carries out a chaos plan against a running hall: SIGKILLs and restarts device processes
 * and the hub, cuts and blackholes devices' network, takes the province down, fills devices'
 * disks — then puts each back. Faults may overlap, as they do in a real hall; one that hits
 * something already down is skipped and not counted.
 */
import type { Logger } from 'pino';
import { ChildDevice } from '../devices/child-device.js';
import type { Hall } from '../hall.js';
import { countByKind, type Fault, type FaultKind } from './plan.js';

const FLAKY = { error500: 0.25, drop: 0.25, throttle: 0.1 };
const HEALTHY = { error500: 0, drop: 0, throttle: 0 };

export class ChaosRunner {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<unknown>>();
  readonly injected: Fault[] = [];
  private readonly active = new Map<string, number>(); // what is down now → count
  private stopped = false;

  constructor(
    private readonly hall: Hall,
    private readonly log: Logger,
  ) {}

  start(plan: readonly Fault[]): void {
    for (const f of plan) this.later(f.at, () => this.inject(f));
  }

  private later(ms: number, fn: () => Promise<void> | void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopped) return;
      const p = Promise.resolve()
        .then(fn)
        .catch((e: Error) => this.log.error({ err: e.message }, 'chaos step failed'));
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    }, ms);
    this.timers.add(t);
  }

  /** What is broken right now, for the progress line. */
  get activeSummary(): string {
    return [...this.active.entries()].map(([k, n]) => (n > 1 ? `${k}×${n}` : k)).join(' ');
  }

  counts(): Record<FaultKind, number> {
    return countByKind(this.injected);
  }

  private mark(key: string, delta: number): void {
    const n = (this.active.get(key) ?? 0) + delta;
    if (n <= 0) this.active.delete(key);
    else this.active.set(key, n);
  }

  private async inject(f: Fault): Promise<void> {
    const h = this.hall;
    const devices = f.devices.map((i) => h.devices[i]!).filter(Boolean);
    switch (f.kind) {
      case 'device-kill': {
        const d = devices[0];
        if (!(d instanceof ChildDevice) || !d.alive) return;
        this.record(f, d.id);
        this.mark('device-down', 1);
        await d.kill();
        this.later(f.durationMs, async () => {
          await h.restartDevice(d);
          this.mark('device-down', -1);
        });
        return;
      }
      case 'hub-kill':
      case 'province-down': {
        const service = f.kind === 'hub-kill' ? h.hub : h.province;
        if (!service.running) return;
        this.record(f);
        this.mark(`${service.name}-down`, 1);
        await service.kill();
        this.later(f.durationMs, async () => {
          await this.retry(service.name, () => service.start());
          this.mark(`${service.name}-down`, -1);
        });
        return;
      }
      case 'province-flaky': {
        // The stand-in's own fault injection: 500s, throttling, and requests stored and then
        // dropped without an answer (the hub cannot know they were accepted, and sends again).
        if (!h.province.running || this.active.has('province-flaky')) return;
        if (!(await h.provinceFaults(FLAKY))) return;
        this.record(f);
        this.mark('province-flaky', 1);
        this.later(f.durationMs, async () => {
          await h.provinceFaults(HEALTHY); // a restarted province is healthy anyway
          this.mark('province-flaky', -1);
        });
        return;
      }
      case 'net-cut':
      case 'net-blackhole': {
        const mode = f.kind === 'net-cut' ? 'cut' : 'blackhole';
        const proxies = devices.map((d) => h.proxies.get(d.id)).filter((p) => p && p.state === 'up');
        if (proxies.length === 0) return;
        this.record(f, devices.map((d) => d.id).join(','));
        this.mark(`net-${mode}`, proxies.length);
        for (const p of proxies) p!.setMode(mode);
        this.later(f.durationMs, () => {
          for (const p of proxies) p!.setMode('up');
          this.mark(`net-${mode}`, -proxies.length);
        });
        return;
      }
      case 'disk-full': {
        const d = devices[0];
        const q = d && h.disks.get(d.id);
        if (!q || q.isFull) return;
        this.record(f, d.id);
        this.mark('disk-full', 1);
        q.fill();
        this.later(f.durationMs, () => {
          q.free();
          this.mark('disk-full', -1);
        });
        return;
      }
    }
  }

  private record(f: Fault, target?: string): void {
    this.injected.push(f);
    this.log.info({ fault: f.kind, target, durationMs: f.durationMs }, 'fault injected');
  }

  private async retry(what: string, start: () => Promise<void>): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        return await start();
      } catch (e) {
        this.log.warn({ what, err: (e as Error).message }, 'restart failed; trying again');
        if (i >= 10) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Stops injecting and puts everything back: network up, disks freed, every process running. */
  async heal(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.pending]);
    const h = this.hall;
    for (const p of h.proxies.values()) p.setMode('up');
    for (const q of h.disks.values()) q.free();
    await h.provinceFaults(HEALTHY);
    if (!h.province.running) await this.retry('province', () => h.province.start());
    if (!h.hub.running) await this.retry('hub', () => h.hub.start());
    await Promise.all(h.devices.filter((d) => !d.alive).map((d) => h.restartDevice(d)));
    this.active.clear();
  }
}
