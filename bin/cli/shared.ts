/** What every subcommand module shares: option parsers, the logger, the one-line config error exit, shutdown on signals. */
import pino, { type Logger } from 'pino';
import { exitWithParent } from '../../common/exit-with-parent.js';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, oneLine } from '../../common/config-error.js';

export { positiveNumber as positive, wholeNumber as int } from '../../common/cli-options.js';

export function logger(level: string, dest = 1): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest, sync: true }));
}

/**
 * A configuration problem (or a port taken between the check and the listen) ends the command
 * with one line for hall IT and exit code 2; anything else is a bug and keeps its stack.
 */
export function configErrorExit(cmd: string, e: unknown): void {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof ConfigError || code === 'EADDRINUSE' || code === 'EACCES') {
    process.stderr.write(`haochaping ${cmd}: ${oneLine((e as Error).message)}\n`);
    process.exit(CONFIG_ERROR_EXIT_CODE);
  }
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let once = false;
  const handler = (sig: string) => {
    if (once) return;
    once = true;
    log.info({ signal: sig }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  // Started by the simulator in a process group of its own: stop when the simulator is gone.
  exitWithParent();
}
