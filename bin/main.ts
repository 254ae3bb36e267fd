/**
 * One command, four roles: `haochaping hub | device | province | sim`, plus tools (`schema`,
 * `release`, `install`, `forwarding`). Each role's commands live in bin/cli/<role>.ts and are
 * loaded only when that role runs: an evaluator's `device run` never loads the hub, the web
 * page, the broker or the simulator (a Pi Zero 2 W has 512 MB). `--help` with no role loads all.
 */
import { Command } from 'commander';
import { FIRMWARE_VERSION } from '../common/version.js';

type Register = (program: Command) => void;
const ROLES: Record<string, () => Promise<{ register: Register }>> = {
  hub: () => import('./cli/hub.js'),
  forwarding: () => import('./cli/hub.js'),
  'verify-export': () => import('./cli/hub.js'),
  // V8 flags first: they only hold for code compiled after them, and fetching and linking the
  // agent's module graph is itself hot enough for TurboFan (issue 14: ~5 MiB, see device-v8.ts).
  device: () => import('./cli/device-v8.js').then(() => import('./cli/device.js')),
  province: () => import('./cli/province.js'),
  sim: () => import('./cli/sim.js'),
  schema: () => import('./cli/schema.js'),
  release: () => import('./cli/release.js'),
  install: () => import('./cli/release.js'),
  uninstall: () => import('./cli/release.js'),
};

const program = new Command('haochaping')
  .description('好差评 counter evaluators: hub, device agent, stand-in province and simulator')
  .version(FIRMWARE_VERSION);
// `hub device add --data …`: options after a subcommand belong to it, not to its parent.
program.enablePositionalOptions();

const first = process.argv[2];
const wanted = first !== undefined && first in ROLES ? [ROLES[first]!] : [...new Set(Object.values(ROLES))];
const loaded = new Set<Register>();
for (const load of wanted) {
  const { register } = await load();
  if (!loaded.has(register)) register(program); // hub.js serves two names; register it once
  loaded.add(register);
}

await program.parseAsync();
