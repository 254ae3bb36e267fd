/**
 * Per-device message rate limit as a GCRA (generic cell rate algorithm): `ratePerS`
 * sustained, `burst` at once. Pure: the clock comes in. Instead of dropping at the first
 * excess message it says how long to hold it — holding a publish stops aedes reading that
 * client's socket, so TCP slows a busy device down and nothing is lost. Only a message that
 * would wait longer than `maxDelayMs` is dropped (a flood, not a device draining its outbox).
 */
export interface RateLimitOptions {
  ratePerS: number;
  burst: number;
  maxDelayMs: number;
}

export type RateDecision = { action: 'pass' } | { action: 'delay'; ms: number } | { action: 'drop' };

export class RateLimiter {
  /** Theoretical arrival time per client (ms). */
  private readonly tat = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly toleranceMs: number;

  constructor(private readonly o: RateLimitOptions) {
    this.intervalMs = 1000 / o.ratePerS;
    this.toleranceMs = this.intervalMs * Math.max(0, o.burst - 1);
  }

  take(client: string, now: number): RateDecision {
    const tat = Math.max(this.tat.get(client) ?? now, now);
    const wait = tat - now - this.toleranceMs;
    if (wait > this.o.maxDelayMs) return { action: 'drop' };
    this.tat.set(client, tat + this.intervalMs);
    return wait > 0 ? { action: 'delay', ms: Math.ceil(wait) } : { action: 'pass' };
  }

  forget(client: string): void {
    this.tat.delete(client);
  }
}

/**
 * Releases held publishes of each client strictly in arrival order. One timer per client,
 * never one per message: Node computes a timer's due time from the event loop's cached clock,
 * so after a long loop turn (an fsync) timers made later can fall due *before* timers made
 * earlier, and a device's records would reach ingest out of sequence (found by the device's
 * offline test: a spurious gap, then a fill). While a client has held messages, every new one
 * queues behind them, even one the limiter would let pass.
 */
export class FifoRelease {
  private readonly queues = new Map<string, { items: { at: number; release: () => void }[]; timer: NodeJS.Timeout | null }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Does this client have messages held? */
  holding(client: string): boolean {
    return (this.queues.get(client)?.items.length ?? 0) > 0;
  }

  /** Releases `release` at `at` (ms), after everything held before it for this client. */
  hold(client: string, at: number, release: () => void): void {
    let q = this.queues.get(client);
    if (!q) this.queues.set(client, (q = { items: [], timer: null }));
    const last = q.items[q.items.length - 1];
    q.items.push({ at: last ? Math.max(at, last.at) : at, release });
    if (!q.timer) this.arm(client, q);
  }

  private arm(client: string, q: { items: { at: number; release: () => void }[]; timer: NodeJS.Timeout | null }): void {
    const head = q.items[0];
    if (!head) {
      this.queues.delete(client);
      return;
    }
    q.timer = setTimeout(
      () => {
        q.timer = null;
        const t = this.now();
        while (q.items.length && q.items[0]!.at <= t) q.items.shift()!.release();
        this.arm(client, q);
      },
      Math.max(0, head.at - this.now()),
    );
  }
}
