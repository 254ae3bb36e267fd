/**
 * `haochaping sim`: a whole hall on one machine. Starts the stand-in province and the hub as
 * their own processes, and N evaluators running the real device agent with virtual buttons
 * and screens, enrolled through the real enrolment path. Citizens play a day (the queue
 * system opens sessions, citizens rate, walk away, give 差评 with reasons) or walk up and
 * press (load); in chaos mode every device is its own process and faults are injected. At the
 * end the sim heals everything, waits for the queues to drain and gives the account from the
 * citizen's side: every press whose thank-you was shown must be at the province exactly once.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { DeviceSettings } from '../hub/registry/registry.js';
import type { Account, Ledger } from './account.js';
import { ChaosRunner } from './chaos/chaos.js';
import { FAULT_KINDS, planFaults, type FaultKind } from './chaos/plan.js';
import { DEFAULT_DAY, DEFAULT_PROFILE, WindowPlayer, type CitizenProfile, type DayOptions, type PlayStats } from './citizens.js';
import { Hall } from './hall.js';
import { seededRng } from './util/random.js';

export { formatAccount, accountOk, type Account } from './account.js';

export interface SimOptions {
  devices: number;
  /** Seconds of play; null: until SIGINT/SIGTERM. */
  durationS: number | null;
  /** 'day': sessions from the queue system; 'walk-up': citizens step up and press. */
  play: 'day' | 'walk-up';
  /** Walk-up: mean seconds between citizens at one window. */
  meanIntervalS: number;
  /** Day: time runs this many times faster than real time (device timeouts shrink with it). */
  speed: number;
  day?: Partial<DayOptions>;
  profile?: Partial<CitizenProfile>;
  /** Each device its own process (chaos mode implies it). */
  processes?: boolean;
  chaos?: { kinds: readonly FaultKind[]; meanGapS: number } | null;
  seed?: number;
  dataDir?: string;
  keep?: boolean;
  drainTimeoutS?: number;
  /** The hub's ports when free (the CLI asks for 1883 and 8080); default: any free port. */
  ports?: { mqtt?: number; http?: number };
  /** Where progress lines go (stderr by default). */
  progress?: (line: string) => void;
  progressEveryMs?: number;
  log?: Logger;
}

/** Device settings for the play: walk-up with fast timeouts, or session mode scaled by speed. */
export function deviceSettings(o: Pick<SimOptions, 'play' | 'speed'>): DeviceSettings {
  if (o.play === 'walk-up') return { mode: 'walk-up', timeouts: { repeatIntervalS: 0.3, thanksS: 0.3, tooSoonS: 0, reasonS: 3 } };
  const s = (x: number, min: number) => Math.max(min, Math.round((x / o.speed) * 100) / 100);
  return {
    mode: 'session',
    timeouts: { promptS: s(60, 1), reasonS: s(30, 1), thanksS: s(3, 0.3), repeatIntervalS: s(5, 0.2), tooSoonS: s(1, 0) },
  };
}

export async function runSim(o: SimOptions): Promise<Account> {
  const started = Date.now();
  const progress = o.progress ?? ((l: string) => process.stderr.write(l + '\n'));
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'hcp-sim-'));
  mkdirSync(dataDir, { recursive: true });
  const log = o.log ?? pino({ level: 'info' }, pino.destination({ dest: join(dataDir, 'sim.log'), sync: false }));
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rng = seededRng(seed);
  const chaos = o.chaos ?? null;
  progress(`sim: data and logs in ${dataDir} (seed ${seed})`);

  const hall = new Hall({
    dataDir,
    devices: o.devices,
    processes: o.processes || chaos !== null,
    proxies: chaos !== null && chaos.kinds.some((k) => k.startsWith('net-')),
    diskBytes: chaos?.kinds.includes('disk-full') ? 16 * 1024 * 1024 : null,
    settings: deviceSettings(o),
    log,
    progress,
    ports: o.ports,
  });
  const ledger: Ledger = { thanked: new Map(), notRated: 0, sessions: 0, attempts: 0, outOfService: 0 };
  const stats: PlayStats = { attempts: 0, sessions: 0, walkedAway: 0, scans: { followUps: new Set(), late: new Set(), refused: 0 } };
  const players: WindowPlayer[] = [];
  let runner: ChaosRunner | null = null;
  let ticker: NodeJS.Timeout | null = null;
  let onStop: () => void = () => {};
  const stopSignal = new Promise<void>((res) => (onStop = res));
  const drainS = o.drainTimeoutS ?? 180;
  // First Ctrl-C (or SIGTERM, SIGHUP): no new presses, drain, stop the children in order, give
  // the account. The children run in process groups of their own, so the terminal's group
  // signal reaches only us. A second one a person sends stops at once. `npx` forwards the signal
  // it got itself to us as well, a moment after the terminal's: that one is not a second press.
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    const now = Date.now();
    if (firstSignalAt === 0) {
      firstSignalAt = now;
      progress(
        `sim: ${sig === 'SIGINT' ? 'Ctrl-C' : sig} — no new presses; draining (at most ${drainS} s), then stopping devices, hub, province. Ctrl-C again to stop at once.`,
      );
      onStop();
      return;
    }
    if (now - firstSignalAt < 1000) return;
    progress(
      `sim: ${sig === 'SIGINT' ? 'Ctrl-C' : sig} again — stopping at once: devices, hub and province killed without the drain; no account. Data in ${dataDir}`,
    );
    hall.killNow();
    process.exit(130);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);

  let finished = false;
  try {
    await hall.start();
    for (const d of hall.devices) {
      d.on('thanked', (r) => ledger.thanked.set(r.id, r));
      d.on('stored', (r) => {
        if (r.kind === 'not-rated') ledger.notRated++;
      });
      d.on('outOfService', () => ledger.outOfService++);
    }

    const profile: CitizenProfile = {
      ...DEFAULT_PROFILE,
      ...(o.play === 'walk-up' ? { readS: [0.1, 0.4] as const, walkAway: 0 } : {}),
      ...o.profile,
    };
    const day: DayOptions = { ...DEFAULT_DAY, ...o.day };
    for (const d of hall.devices) {
      const p = new WindowPlayer(d, seededRng(rng.int(0, 2 ** 31)), profile, o.play === 'walk-up' ? 1 : o.speed, stats);
      if (o.play === 'walk-up') p.startWalkUp(o.meanIntervalS);
      else {
        const staff = {
          id: `staff-${d.window}`,
          name: STAFF_NAMES[Number(d.window) % STAFF_NAMES.length]!,
          number: `A${d.window}`,
          photo: null,
        };
        await hall.queue.staffLogIn(d, staff);
        p.startDay(hall.queue, day, staff.id);
      }
      players.push(p);
    }

    if (chaos) {
      if (o.durationS === null) throw new Error('a chaos run needs a duration');
      const kinds = chaos.kinds.filter((k) => k !== 'disk-full' || !hall.diskUnavailable);
      const plan = planFaults({
        durationMs: o.durationS * 1000,
        devices: hall.devices.length,
        kinds,
        meanGapMs: chaos.meanGapS * 1000,
        rng,
      });
      runner = new ChaosRunner(hall, log.child({ part: 'chaos' }));
      runner.start(plan);
      progress(`sim: chaos — ${plan.length} faults planned (${kinds.join(', ')})`);
    }

    const line = async (phase: string) => {
      const [h, p] = await Promise.all([hall.hubStats(), hall.provinceStats()]);
      const el = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
      const active = runner?.activeSummary;
      progress(
        `${phase} ${el}s  pressed ${ledger.thanked.size}  stored ${h?.ratings ?? '?'}  forwarded ${p?.accepted ?? '?'}  backlog device ${hall.deviceBacklog()} hub ${h?.backlog ?? '?'}` +
          (o.play === 'day' ? `  sessions ${stats.sessions}` : '') +
          (runner ? `  faults ${runner.injected.length}${active ? ` [${active}]` : ''}` : ''),
      );
    };
    ticker = setInterval(() => void line('run  '), o.progressEveryMs ?? 2000);
    await Promise.race([stopSignal, ...(o.durationS === null ? [] : [new Promise((r) => setTimeout(r, o.durationS! * 1000))])]);
    clearInterval(ticker);
    ticker = null;
    await Promise.all(players.map((p) => p.stop()));
    if (runner) {
      progress('sim: healing — network up, disks freed, every process running');
      await runner.heal();
    }

    // Drain: everything thanked must travel device → hub → province. Calm twice in a row.
    const drainUntil = Date.now() + drainS * 1000;
    let drained = false;
    let calm = 0;
    while (Date.now() < drainUntil && !hall.failed) {
      const h = await hall.hubStats();
      const allUp = hall.devices.every((d) => d.alive);
      if (h && allUp && hall.deviceBacklog() === 0 && h.backlog === 0) {
        if (++calm >= 2) {
          drained = true;
          break;
        }
      } else calm = 0;
      await line('drain');
      await new Promise((r) => setTimeout(r, 1000));
    }

    ledger.sessions = stats.sessions;
    ledger.attempts = stats.attempts;
    ledger.scans = stats.scans;
    const account = await hall.account(ledger, drained, Math.round((Date.now() - started) / 1000));
    if (runner) {
      account.faults = runner.counts();
      account.deviceCrashes = hall.crashes;
    }
    if (o.play === 'day') account.sessionsVia = hall.queue.via;
    if (hall.failed && !account.incomplete) account.incomplete = hall.failed;
    finished = true;
    return account;
  } finally {
    if (ticker) clearInterval(ticker);
    await Promise.all(players.map((p) => p.stop()));
    progress(`sim: stopping ${hall.devices.length} evaluators, then the hub, then the stand-in province`);
    await hall.stop();
    for (const sig of signals) process.off(sig, onSignal);
    log.flush?.();
    // A run that broke off keeps its logs: the one-line error points into them.
    if (!o.dataDir && !o.keep && finished) rmSync(dataDir, { recursive: true, force: true });
    else if (!o.dataDir && !o.keep) progress(`sim: logs kept in ${dataDir}`);
  }
}

export { FAULT_KINDS };

const STAFF_NAMES = ['王芳', '李娜', '张伟', '刘洋', '陈静', '杨磊', '赵敏', '黄强', '周婷', '吴刚'];
