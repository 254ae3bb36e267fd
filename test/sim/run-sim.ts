import { spawn } from 'node:child_process';
import { CLI_PATH } from '../../simulator/processes.js';

export interface SimRun {
  code: number | null;
  /** stdout lines (with --json: exactly one, the account). */
  lines: string[];
  stderr: string;
  account: Record<string, unknown> & { faults?: Record<string, number> };
}

/** Runs `haochaping sim …` as a user would and parses its last stdout line as the account. */
export async function runSimCli(args: string[]): Promise<SimRun> {
  // Tests use ports the OS picks, never the sim's guessable defaults (1883, 8080).
  const child = spawn(process.execPath, [CLI_PATH, 'sim', '--mqtt-port', '0', '--http-port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  const lines = out.trim().split('\n').filter(Boolean);
  let account: SimRun['account'] = {};
  try {
    account = JSON.parse(lines[lines.length - 1] ?? '{}') as SimRun['account'];
  } catch {
    /* the assertion on lines says what went wrong */
  }
  return { code, lines, stderr, account };
}
