/**
 * A configuration problem hall IT can fix — a file missing or malformed, a port taken, a data
 * directory that cannot be written, a bad setting. Found before anything starts; the command
 * says it in one line (no stack trace) and exits with code 2. The specific kinds (policy file,
 * calendar file, province profile, forwarder settings, hub start) extend it.
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';

  constructor(message: string, options?: { cause?: unknown }) {
    // One line: multi-line detail (zod's, YAML's code frame) is joined with "; ".
    super(oneLine(message), options);
  }
}

export const CONFIG_ERROR_EXIT_CODE = 2;

export function oneLine(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');
}
