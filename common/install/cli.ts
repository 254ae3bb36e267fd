/** `haochaping install|uninstall device|hub`. */
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ReleaseError } from '../release/manifest.js';
import { install, InstallError, uninstall } from './install.js';
import type { Role } from './units.js';

const role = (v: string): Role => {
  if (v !== 'device' && v !== 'hub') throw new InvalidArgumentError('install device (an evaluator) or hub (the hall server)');
  return v;
};

function report(changed: string[]): void {
  if (changed.length === 0) console.log('nothing to change: already installed as asked');
  for (const c of changed) console.log(c);
}

export function registerInstallCommands(program: Command): void {
  program
    .command('install <role>')
    .description(
      'install a signed release bundle as an evaluator (device) or the hall server (hub): user, directories, release, launcher, systemd unit',
    )
    .requiredOption('--bundle <file>', 'the release bundle (haochaping-<version>-<platform>.tar.gz)')
    .option('--root <dir>', 'stage the install under this directory (no user, no systemctl)', '/')
    .option('--release-key <file>', 'release public key to pin at the first install')
    .option('--allow-downgrade', 'install an older version than the current one', false)
    .action(async (r: string, o: { bundle: string; root: string; releaseKey?: string; allowDowngrade: boolean }) => {
      try {
        report(
          await install({
            role: role(r),
            root: resolve(o.root),
            bundle: resolve(o.bundle),
            releaseKey: o.releaseKey ? resolve(o.releaseKey) : undefined,
            allowDowngrade: o.allowDowngrade,
          }),
        );
      } catch (e) {
        if (e instanceof InvalidArgumentError || e instanceof InstallError) {
          console.error(e.message);
          process.exit(2);
        }
        if (e instanceof ReleaseError) {
          console.error(`refused (${e.reason}): ${e.message}`);
          process.exit(1);
        }
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES') {
          console.error(`cannot install: ${(e as Error).message}`);
          process.exit(2);
        }
        throw e;
      }
    });
  program
    .command('uninstall <role>')
    .description('remove the unit, the releases and the command; keeps the data (/var/lib/haochaping) and options (/etc/haochaping)')
    .option('--root <dir>', 'the staged root', '/')
    .action((r: string, o: { root: string }) => {
      try {
        report(uninstall(role(r), resolve(o.root)));
      } catch (e) {
        if (e instanceof InvalidArgumentError) {
          console.error(e.message);
          process.exit(2);
        }
        throw e;
      }
    });
}
