/** The shared retry backoff and the shared option parsers (common/). */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffCeiling, backoffDelay } from '../../common/backoff.js';
import { positiveNumber, share, wholeNumber } from '../../common/cli-options.js';

describe('backoff', () => {
  it('the ceiling doubles from the base and stops at the maximum', () => {
    expect([0, 1, 2, 3, 10, 1000].map((a) => backoffCeiling(a, 500, 30_000))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
  });

  it('full jitter (devices) spreads from 0 to the ceiling, and starts over after reset', () => {
    const top = new Backoff(500, 4000, () => 1);
    expect([1, 2, 3, 4, 5].map(() => top.next())).toEqual([500, 1000, 2000, 4000, 4000]);
    top.reset();
    expect(top.next()).toBe(500);
    expect(new Backoff(500, 4000, () => 0).next()).toBe(0);
  });

  it('equal jitter (the forwarder) never retries at once: at least half the ceiling', () => {
    expect(backoffDelay(1, 500, 60_000, () => 0)).toBe(250);
    expect(backoffDelay(3, 500, 60_000, () => 1)).toBe(2000);
  });
});

describe('option values', () => {
  it('whole numbers, positive numbers and shares are parsed; anything else is refused naming the option', () => {
    expect(wholeNumber('--port')('8080')).toBe(8080);
    expect(positiveNumber('--speed')('0.5')).toBe(0.5);
    expect(share('--rate-later')('0.3')).toBe(0.3);
    for (const [parse, v, msg] of [
      [wholeNumber('--port'), '-1', '--port must be a whole number, got "-1"'],
      [wholeNumber('--port'), '', '--port must be a whole number, got ""'],
      [wholeNumber('--slow-ms', 'whole milliseconds'), '1.5', '--slow-ms must be whole milliseconds, got "1.5"'],
      [positiveNumber('--speed'), '0', '--speed must be a positive number, got "0"'],
      [share('--drop'), '1.2', '--drop must be a share between 0 and 1, got "1.2"'],
    ] as const) {
      expect(() => parse(v)).toThrow(InvalidArgumentError);
      expect(() => parse(v)).toThrow(msg);
    }
  });
});
