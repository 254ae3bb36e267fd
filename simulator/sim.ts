/**
 * `haochaping sim`: a whole hall on one machine. Starts the stand-in province, the hub as its
 * own process, and N evaluators running the real device agent with virtual buttons and
 * screens, enrolled through the real enrolment path. Citizens press; at the end the sim
 * waits for everything to drain and gives the account, from the citizen's side: every press
 * that was thanked must be at the province exactly once.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pino, { type Logger } from 'pino';
import type { Level, RatingRecord } from '../protocol/index.js';
import { Agent, FIRMWARE_VERSION } from '../device/agent.js';
import { VirtualButtons } from '../device/buttons/virtual.js';
import { VirtualDisplay } from '../device/display/virtual.js';
import { enrol } from '../device/enrolment/enrolment.js';
import type { Evaluation } from '../hub/forwarder/evaluation.js';
import { ADMIN_TOKEN_FILE } from '../hub/hub.js';
import { INITIAL_PASSWORD_FILE } from '../hub/web/hall-web.js';
import { freePort, spawnCli, stopProcess, waitHttpOk } from './processes.js';
import { startProvince, type Province } from './province/province.js';

export interface SimOptions {
  devices: number;
  /** Seconds of pressing; null: until SIGINT/SIGTERM. */
  durationS: number | null;
  /** Mean seconds between citizens at one window. */
  meanIntervalS: number;
  dataDir?: string;
  keep?: boolean;
  drainTimeoutS?: number;
  /** Where progress lines go (stderr by default). */
  progress?: (line: string) => void;
  log?: Logger;
}

export interface Account {
  devices: number;
  pressed: number;
  stored: number;
  forwarded: number;
  lost: number;
  duplicated: number;
  notRated: number;
  rejected: number;
  provinceDuplicatesReceived: number;
  drained: boolean;
  seconds: number;
}

/** How citizens rate, roughly as halls report: mostly 非常满意, few 差评. */
const LEVEL_WEIGHTS: [Level, number][] = [
  [5, 0.6],
  [4, 0.25],
  [3, 0.1],
  [2, 0.03],
  [1, 0.02],
];

function pickLevel(): Level {
  let x = Math.random();
  for (const [level, w] of LEVEL_WEIGHTS) if ((x -= w) < 0) return level;
  return 5;
}

interface SimDevice {
  agent: Agent;
  buttons: VirtualButtons;
  display: VirtualDisplay;
  timer: NodeJS.Timeout | null;
}

export async function runSim(o: SimOptions): Promise<Account> {
  const started = Date.now();
  const progress = o.progress ?? ((l: string) => process.stderr.write(l + '\n'));
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'hcp-sim-'));
  mkdirSync(dataDir, { recursive: true });
  const log = o.log ?? pino({ level: 'info' }, pino.destination({ dest: join(dataDir, 'sim.log'), sync: false }));
  progress(`sim: data and logs in ${dataDir}`);

  const province: Province = await startProvince({ dbPath: join(dataDir, 'province.db'), log: log.child({ part: 'province' }) });
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const hubUrl = `http://127.0.0.1:${httpPort}`;
  const hubArgs = ['hub', '--data', join(dataDir, 'hub'), '--hall', 'sim-hall', '--host', '127.0.0.1', '--mqtt-port', String(mqttPort), '--http-port', String(httpPort), '--province-url', `${province.url}/api/evaluations`];
  let hub: ChildProcess = spawnCli(hubArgs, join(dataDir, 'hub.log'));
  const devices: SimDevice[] = [];
  const pressedIds = new Map<string, RatingRecord>();
  let notRated = 0;
  let stopping = false;
  let onStop: () => void = () => {};
  const stopSignal = new Promise<void>((res) => (onStop = res));
  const interrupt = () => {
    stopping = true;
    onStop();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    await waitHttpOk(`${hubUrl}/api/health`, 30_000, hub);
    progress(`sim: hub up — MQTT 127.0.0.1:${mqttPort}, HTTP ${hubUrl}; stand-in province ${province.url}`);
    progress(`sim: hall web page ${hubUrl}/ — log in as admin with the password in ${join(dataDir, 'hub', INITIAL_PASSWORD_FILE)}`);
    const admin = readFileSync(join(dataDir, 'hub', ADMIN_TOKEN_FILE), 'utf8').trim();
    const api = async (path: string, body?: unknown) => {
      const r = await fetch(`${hubUrl}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      return r.json() as Promise<Record<string, unknown>>;
    };

    for (let i = 0; i < o.devices; i++) {
      const window = String(i + 1).padStart(2, '0');
      const { token, device } = (await api('/api/devices', {
        window,
        id: `sim-${window}`,
        settings: { mode: 'walk-up', timeouts: { repeatIntervalS: 0.5, thanksS: 0.5, tooSoonS: 0 } },
      })) as { token: string; device: { id: string } };
      const dir = join(dataDir, 'devices', device.id);
      mkdirSync(dir, { recursive: true });
      await enrol(dir, hubUrl, token, FIRMWARE_VERSION);
      const buttons = new VirtualButtons(5);
      const display = new VirtualDisplay(20);
      const agent = new Agent({ dataDir: dir, buttons, display, log: log.child({ device: device.id }), clockSynced: () => true, link: { statusIntervalMs: 5000 } });
      agent.on('stored', (r) => {
        if (r.kind === 'rating') pressedIds.set(r.id, r);
        else notRated++;
      });
      await agent.start();
      devices.push({ agent, buttons, display, timer: null });
    }
    progress(`sim: ${devices.length} evaluators enrolled and running`);

    // Citizens arrive at each window at random (exponential gaps around the mean) and press.
    const schedule = (d: SimDevice) => {
      const gap = -Math.log(1 - Math.random()) * o.meanIntervalS * 1000;
      d.timer = setTimeout(() => {
        if (stopping) return;
        const level = pickLevel();
        d.buttons.press(d.agent.currentConfig.buttons.indexOf(level));
        // A 差评 opens the reasons screen: this citizen picks the first reason and confirms.
        const f = d.display.current;
        if (f?.screen === 'reasons') {
          d.buttons.press(f.options[0]!.button);
          const next = d.display.current;
          const confirm = next?.screen === 'reasons' ? next.options.find((o) => o.action === 'done' || o.action === 'skip') : undefined;
          if (confirm) d.buttons.press(confirm.button);
        }
        schedule(d);
      }, Math.max(600, gap));
    };
    devices.forEach(schedule);

    const stats = async () => {
      const [h, p] = await Promise.all([api('/api/stats'), province.stats()]);
      return { hub: h as { ratings: number; backlog: number; forwarded: number; rejections: Record<string, number> }, province: p };
    };
    const line = async (phase: string) => {
      const s = await stats().catch(() => null);
      const depth = devices.reduce((n, d) => n + d.agent.outbox.depth(), 0);
      const el = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
      progress(`${phase} ${el}s  pressed ${pressedIds.size}  stored ${s?.hub.ratings ?? '?'}  forwarded ${s?.province.accepted ?? '?'}  device backlog ${depth}  hub backlog ${s?.hub.backlog ?? '?'}`);
    };
    const ticker = setInterval(() => void line('run  '), 2000);
    await Promise.race([stopSignal, ...(o.durationS === null ? [] : [new Promise((r) => setTimeout(r, o.durationS! * 1000))])]);
    stopping = true;
    clearInterval(ticker);
    for (const d of devices) if (d.timer) clearTimeout(d.timer);

    // Drain: everything thanked must travel device → hub → province.
    const drainUntil = Date.now() + (o.drainTimeoutS ?? 120) * 1000;
    let drained = false;
    while (Date.now() < drainUntil) {
      const s = await stats().catch(() => null);
      const depth = devices.reduce((n, d) => n + d.agent.outbox.depth(), 0);
      if (s && depth === 0 && s.hub.backlog === 0) {
        drained = true;
        break;
      }
      await line('drain');
      await new Promise((r) => setTimeout(r, 500));
    }

    // The account, from the province's own list.
    const atProvince = new Map<string, number>(); // device/seq → count
    let accepted = 0;
    for (let after = 0; ; ) {
      const page = (await (await fetch(`${province.url}/api/evaluations?after=${after}&limit=5000`)).json()) as { records: { n: number; record: Evaluation }[] };
      if (page.records.length === 0) break;
      for (const { n, record: evaluation } of page.records) {
        after = n;
        const record = evaluation.record;
        if (!record || !pressedIds.has(record.id)) continue;
        accepted++;
        const k = `${record.device}/${record.seq}`;
        atProvince.set(k, (atProvince.get(k) ?? 0) + 1);
      }
    }
    const final = await stats();
    const lost = [...pressedIds.values()].filter((r) => !atProvince.has(`${r.device}/${r.seq}`)).length;
    const duplicated = [...atProvince.values()].reduce((n, c) => n + (c - 1), 0);
    return {
      devices: o.devices,
      pressed: pressedIds.size,
      stored: final.hub.ratings,
      forwarded: accepted,
      lost,
      duplicated,
      notRated,
      rejected: Object.entries(final.hub.rejections).reduce((n, [reason, c]) => (reason === 'duplicate' ? n : n + c), 0),
      provinceDuplicatesReceived: final.province.duplicatesReceived,
      drained,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    for (const d of devices) await d.agent.stop().catch(() => {});
    await stopProcess(hub);
    await province.close();
    log.flush?.();
    if (!o.dataDir && !o.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

export function formatAccount(a: Account): string {
  const rows: [string, number | string][] = [
    ['devices', a.devices],
    ['pressed (thanked)', a.pressed],
    ['not rated (timeouts)', a.notRated],
    ['stored at hub', a.stored],
    ['forwarded (accepted by province)', a.forwarded],
    ['lost', a.lost],
    ['duplicated', a.duplicated],
    ['rejected at hub', a.rejected],
    ['duplicates the province received', a.provinceDuplicatesReceived],
    ['drained', a.drained ? 'yes' : 'NO'],
    ['seconds', a.seconds],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
