/**
 * The imperative shell around SessionBook.createDueDefaults: wakes at the next deadline (or
 * at least every `maxSleepMs`, so a changed clock or a session opened by another path is
 * noticed) and makes the defaults that are due. All the deciding is in SessionBook.
 */
import type { Logger } from 'pino';
import type { SessionBook } from './session-book.js';

export class DefaultScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly book: SessionBook,
    private readonly log: Logger,
    private readonly onMade: (count: number) => void,
    private readonly now: () => number = Date.now,
    private readonly maxSleepMs = 60_000,
  ) {}

  /**
   * Starts making defaults. After a hub start, overdue defaults wait `graceMs` first: devices
   * reconnecting then deliver the ratings they kept while the hub was away, and a case that
   * was rated does not go to the province as a default followed by its correction.
   */
  start(graceMs = 0): void {
    this.running = true;
    if (graceMs <= 0) return void this.runDue();
    this.timer = setTimeout(() => this.runDue(), graceMs);
    this.timer.unref();
  }

  /** Makes what is due now and plans the next wake-up. Returns how many defaults were made. */
  runDue(): number {
    let made = 0;
    try {
      for (let n; (n = this.book.createDueDefaults()) > 0;) made += n;
      if (made) this.onMade(made);
    } catch (e) {
      this.log.error({ err: e }, 'making defaults failed; will try again');
    }
    this.plan();
    return made;
  }

  private plan(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.running) return;
    const next = this.book.nextDeadline();
    const wait = next === null ? this.maxSleepMs : Math.max(10, Math.min(next - this.now(), this.maxSleepMs));
    this.timer = setTimeout(() => this.runDue(), wait);
    this.timer.unref();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
