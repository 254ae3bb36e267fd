/** Wall-clock and monotonic time, injected so the rating flow can be tested with a fake clock. */
export interface Clock {
  /** Wall-clock ms since the epoch; wrong until NTP synced on a Pi without RTC. */
  now(): number;
  /** Monotonic ms; only differences within one run mean anything. */
  mono(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  mono: () => Number(process.hrtime.bigint() / 1_000_000n),
};
