/** `haochaping province`: the stand-in provincial platform. */
import type { Command } from 'commander';
import { addStandInOptions, standInOptionsFrom } from '../../simulator/province/cli.js';
import { startProvince } from '../../simulator/province/province.js';
import { int, logger, onShutdown } from './shared.js';

export function register(program: Command): void {
  const provinceCommand = program
    .command('province')
    .description('run the stand-in provincial 好差评 platform')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'HTTP port', int('--port'), 8090)
    .option('--db <file>', 'SQLite file to keep accepted evaluations in', ':memory:')
    .option('--log-level <level>', 'pino log level', 'info');
  addStandInOptions(provinceCommand).action(async (o) => {
    const log = logger(o.logLevel);
    const p = await startProvince({ host: o.host, port: o.port, dbPath: o.db, log, ...standInOptionsFrom(o) });
    onShutdown(log, () => p.close());
  });
}
