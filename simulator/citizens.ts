/**
 * Citizens and the queue system, as the simulator plays them. A citizen reads what the
 * device shows — the prompt with its level buttons, the reason screen for a 差评 — and
 * presses accordingly, so the same player works with any button map and any reason layout
 * the device draws. Time can be accelerated: every delay is divided by `speed`.
 */
import type { Frame } from '../device/display/types.js';
import type { Level } from '../protocol/index.js';
import type { SimDevice } from './devices/sim-device.js';
import type { QueueSystem } from './hub-client.js';
import type { Rng } from './util/random.js';

export interface CitizenProfile {
  /** How citizens rate, roughly as halls report: mostly 非常满意, few 差评. */
  levels: readonly (readonly [Level, number])[];
  /** Share of citizens who leave without pressing (the prompt times out: not rated). */
  walkAway: number;
  /** Share of 差评 givers who skip the reason screen (the rating is kept, flagged). */
  skipReasons: number;
  /** At most this many reasons picked. */
  maxReasons: number;
  /** Seconds (simulated) a citizen takes to read the prompt before pressing. */
  readS: readonly [number, number];
  /** Share of 差评 givers who scan the receipt QR and add text on their phone (the hub's citizen page). */
  scanText?: number;
  /** Share of those who walk away who scan the prompt's "rate later" QR and rate on their phone later. */
  rateLater?: number;
}

export const DEFAULT_PROFILE: CitizenProfile = {
  levels: [
    [5, 0.6],
    [4, 0.22],
    [3, 0.1],
    [2, 0.05],
    [1, 0.03],
  ],
  walkAway: 0.1,
  skipReasons: 0.2,
  maxReasons: 2,
  readS: [2, 12],
  scanText: 0.3,
  rateLater: 0.3,
};

export interface DayOptions {
  /** Cases finished per window per (simulated) hour. */
  casesPerHour: number;
  /** Share of sessions that are a batch of cases handled together (one rating for all). */
  batchShare: number;
}

export const DEFAULT_DAY: DayOptions = { casesPerHour: 8, batchShare: 0.1 };

/** What the citizen presses next on a reason screen: pick reasons, then confirm; null: wait. */
export function reasonStep(f: Extract<Frame, { screen: 'reasons' }>, wanted: readonly string[], skip: boolean): number | null {
  const action = (a: 'next' | 'done' | 'skip') => f.options.find((o) => o.action === a)?.button ?? null;
  if (skip) return action('skip') ?? action('done');
  const pick = f.options.find((o) => o.reason && wanted.includes(o.reason.code) && !o.selected);
  if (pick) return pick.button;
  const missing = wanted.some((c) => !f.options.some((o) => o.reason?.code === c));
  if (missing && f.page + 1 < f.pages) return action('next');
  return action('done');
}

/** The button showing `level` on a prompt frame (or the nearest level the device offers). */
export function buttonFor(f: Extract<Frame, { screen: 'prompt' }>, level: Level): number | null {
  if (f.levels.length === 0) return null;
  const best = [...f.levels].sort((a, b) => Math.abs(a.level - level) - Math.abs(b.level - level))[0]!;
  return best.button;
}

export interface PlayStats {
  attempts: number;
  sessions: number;
  walkedAway: number;
  /** What citizens did on the hub's citizen page (accepted submissions): follow-ups by record id, late ratings by session id. */
  scans?: { followUps: Set<string>; late: Set<string>; refused: number };
}

/** Posts the citizen page's form; retries while the hub does not know the record yet (the device is still delivering it). */
async function submitOnPhone(url: string, form: string, speed: number): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    if (r?.status === 200) return true;
    const retry = !r || r.status === 404 || r.status === 429 || r.status >= 500;
    await r?.body?.cancel();
    if (!retry) return false;
    await sleep(Math.max(100, 2000 / speed));
  }
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One window's citizens. `walkUp`: someone steps up every so often and presses (load and
 * chaos). `day`: the queue system finishes a case, the device prompts, the citizen rates or
 * walks away, the next case follows.
 */
export class WindowPlayer {
  private running = false;
  private loop: Promise<void> | null = null;
  /** Phones still submitting (awaited at stop, so the account sees what they did). */
  private readonly phones = new Set<Promise<void>>();

  constructor(
    private readonly d: SimDevice,
    private readonly rng: Rng,
    private readonly profile: CitizenProfile,
    private readonly speed: number,
    private readonly stats: PlayStats,
  ) {}

  startWalkUp(meanIntervalS: number): void {
    this.run(async () => {
      await sleep(Math.max(50, (this.rng.exp(meanIntervalS) * 1000) / this.speed));
      if (this.d.frame?.screen === 'prompt') await this.citizen(false);
    });
  }

  startDay(queue: QueueSystem, day: DayOptions, staffId: string | null): void {
    let caseNo = 0;
    // The hall opens with citizens already waiting: the first case at a window is done within
    // a few (simulated) minutes, not after a whole mean gap, so even a short run sees ratings.
    let first = true;
    this.run(async () => {
      const gapS = first ? this.rng.between(30, 180) : this.rng.exp(3600 / day.casesPerHour);
      first = false;
      await sleep(Math.max(50, (gapS * 1000) / this.speed));
      if (!this.running || !this.d.alive || this.d.frame?.screen === 'paused') return;
      const n = this.rng.chance(day.batchShare) ? this.rng.int(2, 5) : 1;
      const cases = Array.from({ length: n }, () => `${this.d.window}-${String(++caseNo).padStart(5, '0')}`);
      const item = this.rng.pick(ITEMS);
      const s = await queue.openSession(this.d, { cases, itemCode: item[0], itemName: item[1], staffId }).catch(() => null);
      if (!s) return;
      this.stats.sessions++;
      // The device shows the prompt; the citizen who was just served decides.
      for (let i = 0; i < 40 && this.d.frame?.screen !== 'prompt'; i++) await sleep(25);
      await this.citizen(true, s.id);
    });
  }

  private run(step: () => Promise<void>): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) await step().catch(() => {});
    })();
  }

  /** One citizen in front of the device. */
  private async citizen(mayWalkAway: boolean, sessionId: string | null = null): Promise<void> {
    const p = this.profile;
    if (mayWalkAway && this.rng.chance(p.walkAway)) {
      this.stats.walkedAway++;
      const f = this.d.frame;
      if (sessionId && f?.screen === 'prompt' && f.qr && this.stats.scans && this.rng.chance(p.rateLater ?? 0)) {
        // Scans the "rate later" QR on the way out and rates from the phone a little later.
        const url = f.qr;
        const level = this.rng.weighted(p.levels);
        const laterMs = (this.rng.between(5, 120) * 1000) / this.speed;
        const scans = this.stats.scans;
        this.phone(async () => {
          await sleep(laterMs);
          if (await submitOnPhone(url, `level=${level}`, this.speed)) scans.late.add(sessionId);
          else scans.refused++;
        });
      }
      // Gone: the prompt times out on the device and it records "not rated".
      const promptS = this.d.config?.timeouts.promptS ?? 60;
      await sleep(promptS * 1000 + 300);
      return;
    }
    await sleep((this.rng.between(p.readS[0], p.readS[1]) * 1000) / this.speed);
    const f = this.d.frame;
    if (!this.running || f?.screen !== 'prompt') return;
    const level = this.rng.weighted(p.levels);
    const button = buttonFor(f, level);
    if (button === null) return;
    this.stats.attempts++;
    if (!this.d.press(button)) return;
    await this.reasons(level);
    if (level <= 2 && this.stats.scans && this.rng.chance(p.scanText ?? 0)) this.scanReceipt();
  }

  /** A 差评 giver scans the thank-you's receipt QR and adds a few words on the phone. */
  private scanReceipt(): void {
    const f = this.d.frame;
    if (f?.screen !== 'thanks' || !f.qr || !f.ref) return;
    const url = f.qr;
    const record = f.ref;
    const scans = this.stats.scans!;
    const words = this.rng.pick(PHONE_TEXTS);
    this.phone(async () => {
      if (await submitOnPhone(url, `text=${encodeURIComponent(words)}`, this.speed)) scans.followUps.add(record);
      else scans.refused++;
    });
  }

  private phone(job: () => Promise<void>): void {
    const p = job().catch(() => {});
    this.phones.add(p);
    void p.finally(() => this.phones.delete(p));
  }

  /** A 差评 brings the reason screen: pick what went wrong, confirm (or skip). */
  private async reasons(level: Level): Promise<void> {
    if (level > 2) return;
    const skip = this.rng.chance(this.profile.skipReasons);
    let wanted: string[] | null = null;
    // A citizen reads the reasons first; the device takes the same button pressed again at once
    // for a nervous double press (at most 1 s, or the repeat interval), not a choice.
    const guardMs = Math.min(1, this.d.config?.timeouts.repeatIntervalS ?? 1) * 1000 + 100;
    for (let step = 0; step < 20; step++) {
      await sleep(Math.max(step === 0 ? guardMs : 30, 1500 / this.speed));
      const f = this.d.frame;
      if (f?.screen !== 'reasons') return;
      if (!wanted) {
        const offered = f.options.filter((o) => o.reason).map((o) => o.reason!.code);
        wanted = this.rng.shuffle(offered).slice(0, this.rng.int(1, Math.max(1, Math.min(this.profile.maxReasons, offered.length))));
      }
      const b = reasonStep(f, wanted, skip);
      if (b === null) return;
      this.d.press(b);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.phones]);
  }
}

/** What simulated citizens write on the phone after a 差评. */
const PHONE_TEXTS = ['等候时间太长', '材料要求前后不一致，跑了两趟', '工作人员态度冷淡', '窗口中途离开没有说明', '办事指南写得不清楚'];

/** A few common items (事项), so sessions look like a hall's. */
const ITEMS: readonly (readonly [string, string])[] = [
  ['11100000MB0143210A', '居民身份证换领'],
  ['11100000MB0143211B', '户口迁移'],
  ['11100000MB0143212C', '营业执照设立登记'],
  ['11100000MB0143213D', '社会保障卡申领'],
  ['11100000MB0143214E', '不动产登记'],
  ['11100000MB0143215F', '公积金提取'],
];
