/**
 * A hall for tests, from real parts: the stand-in province over HTTP, a hub (in this process,
 * or as a child process of the real CLI) with aedes on loopback, and device agents with
 * virtual buttons writing to real SQLite files in a temp directory.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { Agent, FIRMWARE_VERSION } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import type { HubConfigInput } from '../../hub/config.js';
import { ADMIN_TOKEN_FILE, startHub, type Hub } from '../../hub/hub.js';
import type { DeviceSettings } from '../../hub/registry/registry.js';
import { freePort, spawnCli, stopProcess, waitHttpOk } from '../../simulator/processes.js';
import { startProvince, type Province, type ProvinceOptions } from '../../simulator/province/province.js';
import type { ProvinceConfigInput } from '../../hub/forwarder/config.js';
import type { RatingRecord } from '../../protocol/index.js';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { silentLog } from './log.js';

export interface TestDevice {
  id: string;
  dir: string;
  agent: Agent;
  buttons: VirtualButtons;
  display: VirtualDisplay;
  stored: RatingRecord[];
  /** Presses `button` as a citizen would: a 差评 goes on through the reasons screen (skipped). */
  rate(button: number): void;
}

/** Settings that let a test press as fast as it likes. */
export const FAST_WALK_UP: DeviceSettings = { mode: 'walk-up', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } };

export class TestHall {
  readonly devices: TestDevice[] = [];
  hub: Hub | null = null;
  hubProcess: ChildProcess | null = null;
  hubUrl = '';
  adminToken = '';
  private hubArgs: string[] = [];
  private provinceOpts: Omit<ProvinceOptions, 'log' | 'dbPath' | 'port'> = {};
  private provinceUp = true;

  private constructor(
    readonly dir: string,
    public province: Province,
    readonly log: Logger,
    readonly ports: { mqtt: number; http: number },
  ) {}

  /**
   * `province`: how the stand-in behaves (profile, faults, auth); `forward`: the hub's province
   * settings (in-process hub); `hubArgs`: extra `haochaping hub` flags (hub as a process).
   */
  static async start(
    opts: {
      hubAs?: 'in-process' | 'process';
      log?: Logger;
      hall?: string;
      province?: Omit<ProvinceOptions, 'log' | 'dbPath' | 'port'>;
      forward?: Partial<ProvinceConfigInput>;
      hubArgs?: string[];
      hubConfig?: Partial<HubConfigInput>;
      now?: () => number;
    } = {},
  ): Promise<TestHall> {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-test-'));
    const log = opts.log ?? silentLog();
    const province = await startProvince({ dbPath: join(dir, 'province.db'), log, ...opts.province });
    const hall = new TestHall(dir, province, log, { mqtt: await freePort(), http: await freePort() });
    hall.provinceOpts = opts.province ?? {};
    hall.hubUrl = `http://127.0.0.1:${hall.ports.http}`;
    const hallId = opts.hall ?? 'test-hall';
    if (opts.hubAs === 'process') {
      hall.hubArgs = [
        'hub',
        '--data',
        join(dir, 'hub'),
        '--hall',
        hallId,
        '--host',
        '127.0.0.1',
        '--mqtt-port',
        String(hall.ports.mqtt),
        '--http-port',
        String(hall.ports.http),
        '--province-url',
        `${province.url}/api/evaluations`,
        '--log-level',
        'debug',
        ...(opts.hubArgs ?? []),
      ];
      await hall.startHubProcess();
    } else {
      hall.hub = await startHub(
        {
          dataDir: join(dir, 'hub'),
          hall: hallId,
          mqtt: { host: '127.0.0.1', port: hall.ports.mqtt },
          http: { host: '127.0.0.1', port: hall.ports.http },
          province: { url: `${province.url}/api/evaluations`, lingerMs: 5, ...opts.forward },
          ...opts.hubConfig,
        },
        log,
        { now: opts.now },
      );
    }
    hall.adminToken = readFileSync(join(dir, 'hub', ADMIN_TOKEN_FILE), 'utf8').trim();
    return hall;
  }

  async startHubProcess(): Promise<void> {
    this.hubProcess = spawnCli(this.hubArgs, join(this.dir, 'hub.log'));
    await waitHttpOk(`${this.hubUrl}/api/health`, 30_000, this.hubProcess);
  }

  /** Takes the stand-in province down (its port refuses connections until startProvince). */
  async stopProvince(): Promise<void> {
    if (!this.provinceUp) return;
    this.provinceUp = false;
    await this.province.close();
  }

  /** Brings the stand-in province back on the same port with what it had stored. */
  async startProvince(): Promise<void> {
    if (this.provinceUp) return;
    this.province = await startProvince({
      ...this.provinceOpts,
      port: this.province.port,
      dbPath: join(this.dir, 'province.db'),
      log: this.log,
    });
    this.provinceUp = true;
  }

  async stopHubProcess(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.hubProcess;
    this.hubProcess = null;
    return p ? stopProcess(p, signal) : null;
  }

  async api<T = Record<string, unknown>>(path: string, body?: unknown, token = this.adminToken): Promise<T> {
    const r = await fetch(`${this.hubUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Registers and enrols a device through the real enrolment path, without running it. */
  async enrolDevice(window: string, settings: DeviceSettings = FAST_WALK_UP): Promise<{ id: string; dir: string }> {
    const { token, device } = await this.api<{ token: string; device: { id: string } }>('/api/devices', { window, settings });
    const dir = join(this.dir, 'devices', device.id);
    mkdirSync(dir, { recursive: true });
    await enrol(dir, this.hubUrl, token, FIRMWARE_VERSION);
    return { id: device.id, dir };
  }

  /** Registers, enrols and starts a device agent through the real enrolment path. */
  async addDevice(window: string, settings: DeviceSettings = FAST_WALK_UP, agentLog?: Logger): Promise<TestDevice> {
    const { id, dir } = await this.enrolDevice(window, settings);
    return this.runDevice(id, dir, agentLog);
  }

  /** (Re)starts the agent in `dir`, e.g. after a simulated reboot. */
  async runDevice(id: string, dir: string, agentLog?: Logger): Promise<TestDevice> {
    const buttons = new VirtualButtons(5);
    const display = new VirtualDisplay();
    const agent = Agent.open({
      dataDir: dir,
      buttons,
      display,
      log: agentLog ?? this.log,
      clockSynced: () => true,
      link: { ackTimeoutMs: 3000 },
    });
    const d: TestDevice = {
      id,
      dir,
      agent,
      buttons,
      display,
      stored: [],
      rate: (button) => {
        buttons.press(button);
        const f = display.current;
        const skip = f?.screen === 'reasons' ? f.options.find((o) => o.action === 'skip' || o.action === 'done') : undefined;
        if (skip) buttons.press(skip.button);
      },
    };
    agent.on('stored', (r) => d.stored.push(r));
    await agent.start();
    const i = this.devices.findIndex((x) => x.id === id);
    if (i >= 0) this.devices[i] = d;
    else this.devices.push(d);
    return d;
  }

  /** Evaluations the stand-in province accepted, in order, with the device record each carries. */
  async provinceRecords(): Promise<{ received: number; evaluation: Evaluation; record: RatingRecord }[]> {
    const out: { received: number; evaluation: Evaluation; record: RatingRecord }[] = [];
    for (let after = 0; ;) {
      const page = (await (await fetch(`${this.province.url}/api/evaluations?after=${after}&limit=5000`)).json()) as {
        records: { n: number; received: number; record: Evaluation }[];
      };
      if (page.records.length === 0) return out;
      for (const r of page.records) {
        after = r.n;
        out.push({ received: r.received, evaluation: r.record, record: r.record.record! });
      }
    }
  }

  async close(): Promise<void> {
    for (const d of this.devices) await d.agent.stop().catch(() => {});
    await this.hub?.close();
    await this.stopHubProcess();
    await this.stopProvince();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
