/** `haochaping hub backup --to FILE` and `hub restore FILE`. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BackupError, backupHub, restoreHub } from './backup.js';

const DEFAULT_DATA = '/var/lib/haochaping/hub';

function guarded<A extends unknown[]>(f: (...a: A) => Promise<void> | void) {
  return async (...a: A) => {
    try {
      await f(...a);
    } catch (e) {
      if (e instanceof BackupError) {
        console.error(e.message);
        process.exit(2);
      }
      throw e;
    }
  };
}

export function addBackupCommands(hub: Command): void {
  hub
    .command('backup')
    .description("a consistent copy of the hub's database and keys while it runs (SQLite online backup)")
    .requiredOption('--to <file>', 'the backup file to write (mode 0600; keep it somewhere safe)')
    .option('--data <dir>', 'hub data directory', DEFAULT_DATA)
    .action(
      guarded(async (o: { to: string; data: string }) => {
        const s = await backupHub(resolve(o.data), o.to);
        console.log(
          `备份完成 backup written: ${s.file} (${(s.bytes / 1024).toFixed(0)} KiB; ${s.ratings} ratings, ${s.devices} devices; files: ${s.files.join(', ') || 'none'})`,
        );
      }),
    );
  hub
    .command('restore <file>')
    .description('put a backup back (the hub must be stopped); what it replaces is kept aside; devices then resend what they hold')
    .option('--data <dir>', 'hub data directory', DEFAULT_DATA)
    .action(
      guarded((file: string, o: { data: string }) => {
        const s = restoreHub(resolve(o.data), resolve(file));
        console.log(
          `恢复完成 restored the backup of ${new Date(s.madeAt).toISOString()} (${s.ratings} ratings)` +
            (s.keptAs ? `; the replaced database is kept in ${s.keptAs}/` : '') +
            '. Start the hub: devices resend what they hold beyond the backup; what none holds shows as a gap alarm.',
        );
      }),
    );
}
