/**
 * Parsers for command-line option values, shared by every role's commands: a wrong value is
 * refused by commander with one line that names the option and what it takes.
 */
import { InvalidArgumentError } from 'commander';

/** A whole number ≥ 0 (a port, a count, milliseconds). */
export const wholeNumber =
  (name: string, unit = 'a whole number') =>
  (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be ${unit}, got "${v}"`);
    return n;
  };

/** A number > 0 (seconds, a rate, a speed-up factor). */
export const positiveNumber =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got "${v}"`);
    return n;
  };

/** A share between 0 and 1 (a fault rate, a share of citizens). */
export const share =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a share between 0 and 1, got "${v}"`);
    return n;
  };
