/**
 * Exponential backoff with jitter, for everything that retries against something that may be
 * down for everyone at once: a device reconnecting to its hub (and fetching from it), the
 * forwarder retrying the province. One ceiling, base·2^n up to a maximum; two jitters (AWS
 * architecture blog, "Exponential Backoff And Jitter").
 */

/** The ceiling after `attempt` earlier failures (0: the first retry): base·2^attempt, at most max. */
export function backoffCeiling(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
}

/**
 * "Equal jitter" after `failures` failures (1: the first): half the ceiling fixed, half random.
 * The forwarder's choice: a retry never comes right away, yet hubs that lost the province
 * together do not all come back in the same second.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(failures - 1, baseMs, maxMs);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * "Full jitter", counting its own attempts: anywhere between 0 and the ceiling. The devices'
 * choice: a hall's evaluators that lost the hub together spread over the whole interval.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = backoffCeiling(this.attempt, this.baseMs, this.maxMs);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}
