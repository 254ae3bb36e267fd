/** `haochaping release …` and `haochaping install|uninstall …`: bundles and installers. */
import type { Command } from 'commander';
import { registerInstallCommands } from '../../common/install/cli.js';
import { registerReleaseCommands } from '../../common/release/cli.js';

export function register(program: Command): void {
  registerReleaseCommands(program);
  registerInstallCommands(program);
}
