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
