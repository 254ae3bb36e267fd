/**
 * Fixed-window request counters for the citizen pages, per QR link and per client address. In
 * memory: a restart forgets them, which only gives an abuser one more window; what must never
 * happen twice (a second submission) is enforced by the database, not here.
 */
export class WindowLimiter {
  private readonly hits = new Map<string, { n: number; resetAt: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number,
    /** Keys kept at most (a flood of forged links must not grow memory without bound). */
    private readonly maxKeys = 50_000,
  ) {}

  /** Counts one request; returns 0 if allowed, else the seconds until the key may try again. */
  take(key: string): number {
    const now = this.now();
    let h = this.hits.get(key);
    if (!h || h.resetAt <= now) {
      if (this.hits.size >= this.maxKeys) this.prune(now);
      h = { n: 0, resetAt: now + this.windowMs };
      this.hits.set(key, h);
    }
    h.n++;
    return h.n > this.max ? Math.max(1, Math.ceil((h.resetAt - now) / 1000)) : 0;
  }

  private prune(now: number): void {
    for (const [k, h] of this.hits) if (h.resetAt <= now) this.hits.delete(k);
    // Still full of live keys: forget the oldest half rather than refuse everyone.
    if (this.hits.size >= this.maxKeys) {
      let drop = Math.floor(this.hits.size / 2);
      for (const k of this.hits.keys()) {
        if (drop-- <= 0) break;
        this.hits.delete(k);
      }
    }
  }
}
