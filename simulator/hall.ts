/**
 * A whole hall on this machine, from real parts: the stand-in province and the hub each as
 * their own `haochaping` process, N evaluators enrolled through the real enrolment path and
 * running the real agent (in this process, or each as its own process), optionally each
 * behind a TCP proxy (its network cable) and on a disk of its own size (its SD card).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FIRMWARE_VERSION } from '../device/agent.js';
import { enrol, ENROLMENT_FILE, EnrolmentSchema } from '../device/enrolment/enrolment.js';
import { writeFileAtomic } from '../common/atomic-file.js';
import { ADMIN_TOKEN_FILE } from '../hub/hub.js';
import { INITIAL_PASSWORD_FILE } from '../hub/web/hall-web.js';
import type { DeviceSettings } from '../hub/registry/registry.js';
import { computeAccount, provinceEntry, type Account, type Ledger, type ProvinceEntry } from './account.js';
import { ChildDevice } from './devices/child-device.js';
import { InProcessDevice } from './devices/in-process-device.js';
import type { SimDevice } from './devices/sim-device.js';
import { DiskQuota } from './disk/quota.js';
import { detectQueueSystem, DirectQueueSystem, HubClient, type HubStats, type QueueSystem } from './hub-client.js';
import { TcpProxy } from './net/tcp-proxy.js';
import { CliService, freePort, portOr } from './processes.js';
import type { ProvinceStats } from './province/province.js';

/** A small young generation: ~20 MB less per device process, which matters at hundreds. */
const DEVICE_NODE_ARGS = ['--max-semi-space-size=1'];

export interface HallOptions {
  dataDir: string;
  devices: number;
  /** Each device its own process (needed for real kills). */
  processes: boolean;
  /** A TCP proxy between each device and the broker. */
  proxies: boolean;
  /** Bytes of disk per device (a tmpfs each; needs root), or null for the plain data directory. */
  diskBytes: number | null;
  settings: DeviceSettings;
  log: Logger;
  progress: (line: string) => void;
  hall?: string;
  /** Extra node flags for device processes. */
  deviceNodeArgs?: string[];
  /** The hub's ports if free (a newcomer guesses 1883 and 8080); otherwise, or 0, any free port. */
  ports?: { mqtt?: number; http?: number };
}

export class Hall {
  readonly devices: SimDevice[] = [];
  readonly proxies = new Map<string, TcpProxy>();
  readonly disks = new Map<string, DiskQuota>();
  queue: QueueSystem = new DirectQueueSystem();
  province!: CliService;
  hub!: CliService;
  hubApi!: HubClient;
  provinceUrl = '';
  ports = { mqtt: 0, http: 0, province: 0 };
  /** Device processes that died without being killed by us, restarted like systemd would. */
  crashes = 0;
  private stopping = false;
  diskUnavailable = false;
  /** Set when the hub or the province died and would not start again: the run cannot drain. */
  failed: string | null = null;
  /** Whatever happens to this process, its children (each in its own process group) go with it. */
  private readonly onExit = () => this.killNow();

  constructor(readonly o: HallOptions) {}

  async start(): Promise<void> {
    const o = this.o;
    mkdirSync(o.dataDir, { recursive: true });
    process.on('exit', this.onExit);
    const province = await freePort();
    this.provinceUrl = `http://127.0.0.1:${province}`;
    this.province = new CliService(
      'province',
      ['province', '--port', String(province), '--db', join(o.dataDir, 'province.db'), '--log-level', 'warn'],
      join(o.dataDir, 'province.log'),
      `${this.provinceUrl}/api/health`,
    );
    this.supervise(this.province, 'the stand-in province');
    await this.province.start();
    const wanted = { mqtt: o.ports?.mqtt ?? 0, http: o.ports?.http ?? 0 };
    try {
      await this.startHub(province, await portOr(wanted.mqtt), await portOr(wanted.http));
    } catch (e) {
      // Someone took a port between our look and the hub's listen: any free port then.
      if (wanted.mqtt === 0 && wanted.http === 0) throw e;
      o.log.warn({ err: (e as Error).message }, 'hub did not start on the usual ports; trying free ones');
      await this.startHub(province, await freePort(), await freePort());
    }
    for (const [what, port] of [
      ['MQTT', this.ports.mqtt],
      ['HTTP', this.ports.http],
    ] as const) {
      const want = what === 'MQTT' ? wanted.mqtt : wanted.http;
      if (want !== 0 && port !== want) o.progress(`sim: port ${want} is in use; the hub's ${what} is on ${port} instead`);
    }
    const hubUrl = this.hubApi.url;
    this.queue = await detectQueueSystem(this.hubApi);
    o.progress(`sim: hub up — MQTT 127.0.0.1:${this.ports.mqtt}, HTTP ${hubUrl}; stand-in province ${this.provinceUrl}`);
    o.progress(`sim: hall web page ${hubUrl}/ — ${this.adminLogIn()}`);

    // Enrol in small parallel groups: each enrolment hashes a password on the hub.
    const ids = Array.from({ length: o.devices }, (_, i) => i);
    for (let i = 0; i < ids.length; i += 8) await Promise.all(ids.slice(i, i + 8).map((n) => this.addDevice(n)));
    this.devices.sort((a, b) => a.window.localeCompare(b.window)); // enrolled in parallel; list them by window
    // Start from a steady hall: every device connected and holding the hub's retained config.
    const until = Date.now() + 60_000;
    while (!this.devices.every((d) => d.connected) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    if (this.diskUnavailable) o.progress('sim: cannot mount a size-limited disk per device (needs root); the disk-full fault is off');
    o.progress(`sim: ${this.devices.length} evaluators enrolled and running${o.processes ? ' (one process each)' : ''}`);
  }

  private async startHub(province: number, mqtt: number, http: number): Promise<void> {
    const o = this.o;
    this.ports = { mqtt, http, province };
    const hubUrl = `http://127.0.0.1:${http}`;
    this.hub?.removeAllListeners('died');
    this.hub = new CliService(
      'hub',
      [
        'hub',
        '--data',
        join(o.dataDir, 'hub'),
        '--hall',
        o.hall ?? 'sim-hall',
        '--host',
        '127.0.0.1',
        '--mqtt-port',
        String(mqtt),
        '--http-port',
        String(http),
        '--province-url',
        `${this.provinceUrl}/api/evaluations`,
      ],
      join(o.dataDir, 'hub.log'),
      `${hubUrl}/api/health`,
    );
    this.supervise(this.hub, 'the hub');
    await this.hub.start();
    this.hubApi = new HubClient(hubUrl, readFileSync(join(o.dataDir, 'hub', ADMIN_TOKEN_FILE), 'utf8').trim());
  }

  /** The demo's log-in, said in the sim's own output: its data directory is often temporary. */
  private adminLogIn(): string {
    const file = join(this.o.dataDir, 'hub', INITIAL_PASSWORD_FILE);
    try {
      const [user, password] = readFileSync(file, 'utf8').split('\n');
      if (user && password) return `log in as ${user}, password ${password}`;
    } catch {
      /* an older hub data directory: the account exists, the file was removed */
    }
    return `log in as admin with the password in ${file}`;
  }

  /**
   * A hub or province that dies without the simulator (or its chaos plan) killing it is said in
   * one line and started again, like systemd's Restart=always; if it will not come back the
   * run is marked failed and ends with an honest account instead of waiting out the drain.
   */
  private supervise(service: CliService, what: string): void {
    service.on('died', (why) => {
      if (this.stopping) return;
      this.o.progress(`sim: ${what} exited unexpectedly (${why}; see ${service.logFile}); starting it again`);
      void (async () => {
        for (let i = 0; i < 5 && !this.stopping; i++) {
          try {
            await service.start();
            this.o.progress(`sim: ${what} is running again`);
            return;
          } catch (e) {
            this.o.log.warn({ what, err: (e as Error).message }, 'restart failed');
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
        if (!this.stopping) {
          this.failed = `${what} exited and did not start again (see ${service.logFile})`;
          this.o.progress(`sim: ${this.failed}`);
        }
      })();
    });
  }

  private async addDevice(n: number): Promise<void> {
    const o = this.o;
    const window = String(n + 1).padStart(o.devices >= 100 ? 3 : 2, '0');
    const id = `sim-${window}`;
    const dir = join(o.dataDir, 'devices', id);
    mkdirSync(dir, { recursive: true });
    if (o.diskBytes !== null) {
      const q = DiskQuota.tryMount(dir, o.diskBytes);
      if (q) this.disks.set(id, q);
      else this.diskUnavailable = true;
    }
    // QR codes lead to the hub's citizen page (receipts of 差评, rate later), which simulated citizens sometimes scan.
    const { token } = await this.hubApi.addDevice(window, id, { feedbackUrl: `${this.hubApi.url}/citizen/`, ...o.settings });
    await enrol(dir, this.hubApi.url, token, FIRMWARE_VERSION);
    if (o.proxies) {
      // The device's network path to the broker goes through a proxy the simulator controls.
      const proxy = new TcpProxy({ host: '127.0.0.1', port: this.ports.mqtt });
      const port = await proxy.start();
      this.proxies.set(id, proxy);
      const file = join(dir, ENROLMENT_FILE);
      const e = EnrolmentSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      writeFileAtomic(file, JSON.stringify({ ...e, mqttUrl: `mqtt://127.0.0.1:${port}` }), 0o600);
    }
    const d: SimDevice = o.processes
      ? new ChildDevice(id, window, dir, {
          logFile: join(o.dataDir, 'devices', `${id}.log`),
          nodeArgs: o.deviceNodeArgs ?? DEVICE_NODE_ARGS,
        })
      : new InProcessDevice(id, window, dir, o.log.child({ device: id }), { statusIntervalMs: 5000 });
    if (d instanceof ChildDevice) {
      d.on('down', (reason) => {
        if (reason === 'killed' || reason === 'stopped' || this.stopping) return;
        // Like systemd's Restart=always: a crashed agent comes back after a second.
        this.crashes++;
        o.log.warn({ device: id, reason }, 'device process died; restarting');
        setTimeout(() => void this.restartDevice(d), 1000);
      });
    }
    await d.start();
    this.devices.push(d);
  }

  async restartDevice(d: SimDevice): Promise<void> {
    if (this.stopping || d.alive) return;
    try {
      await d.start();
    } catch (e) {
      this.o.log.error({ device: d.id, err: (e as Error).message }, 'device did not come back; retrying');
      if (!this.stopping) setTimeout(() => void this.restartDevice(d), 2000);
    }
  }

  async hubStats(): Promise<HubStats | null> {
    if (!this.hub.running) return null;
    return this.hubApi.stats().catch(() => null);
  }

  async provinceStats(): Promise<ProvinceStats | null> {
    if (!this.province.running) return null;
    try {
      return (await (await fetch(`${this.provinceUrl}/api/stats`, { signal: AbortSignal.timeout(5000) })).json()) as ProvinceStats;
    } catch {
      return null;
    }
  }

  /** Changes the stand-in province's injected faults (PATCH /admin/faults); false if it did not take them. */
  async provinceFaults(faults: Record<string, number>): Promise<boolean> {
    if (!this.province.running) return false;
    try {
      const r = await fetch(`${this.provinceUrl}/admin/faults`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(faults),
        signal: AbortSignal.timeout(5000),
      });
      return r.ok;
    } catch {
      return false;
    }
  }

  /** Everything the province accepted, page by page. */
  async provinceEntries(): Promise<ProvinceEntry[]> {
    const out: ProvinceEntry[] = [];
    for (let after = 0; ;) {
      const r = await fetch(`${this.provinceUrl}/api/evaluations?after=${after}&limit=5000`, { signal: AbortSignal.timeout(30_000) });
      if (!r.ok) throw new Error(`the stand-in province answered ${r.status}`);
      const page = (await r.json()) as { records: { n: number; received: number; record: Record<string, unknown> }[] };
      if (page.records.length === 0) return out;
      for (const x of page.records) {
        after = x.n;
        out.push(provinceEntry(x.record, x.received ?? 1));
      }
    }
  }

  /** The account of what the devices reported (`ledger`) against what the hub and the province hold. */
  async account(ledger: Ledger, drained: boolean, seconds: number): Promise<Account> {
    const [h, p] = await Promise.all([this.hubStats(), this.provinceStats()]);
    let entries: ProvinceEntry[] = [];
    let incomplete: string | undefined;
    try {
      entries = await this.provinceEntries();
    } catch (e) {
      // Without the province's records nothing can be called delivered or lost: say so.
      incomplete = `the stand-in province could not be read (${(e as Error).message})`;
    }
    const account = computeAccount({
      devices: this.devices.map((d) => d.id),
      ledger,
      province: entries,
      hub: h ?? { ratings: -1, rejections: {}, gaps: 0 },
      provinceDuplicatesReceived: p?.duplicatesReceived ?? -1,
      drained: drained && !incomplete,
      seconds,
    });
    if (incomplete) account.incomplete = incomplete;
    return account;
  }

  deviceBacklog(): number {
    return this.devices.reduce((n, d) => n + d.depth, 0);
  }

  /** In order: the devices (their outboxes closed cleanly), then the hub, then the province. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const p of this.proxies.values()) p.setMode('up');
    await Promise.all(this.devices.map((d) => d.stop().catch(() => {})));
    await this.hub?.stop();
    await this.province?.stop();
    for (const p of this.proxies.values()) await p.close();
    for (const q of this.disks.values()) q.unmount();
    process.off('exit', this.onExit);
  }

  /** SIGKILL every child process now, without waiting (a second Ctrl-C, or this process exiting). */
  killNow(): void {
    this.stopping = true;
    for (const d of this.devices) if (d instanceof ChildDevice) d.killNow();
    this.hub?.killNow();
    this.province?.killNow();
  }
}
