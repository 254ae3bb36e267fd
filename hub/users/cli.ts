/**
 * `haochaping hub user add|passwd|disable|list`: manage the hall page's staff accounts on
 * the hub machine itself (e.g. the first supervisor, or an admin who lost the password).
 * Works on the hub's database directly, also while the hub runs (SQLite WAL); every change
 * is in the audit log as done by "cli".
 */
import { readFileSync } from 'node:fs';
import { ensurePrivateDir } from '../../common/private-files.js';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { openHubDb } from '../store/db.js';
import { AuditLog } from './audit.js';
import { ROLE_LABELS, STAFF_ROLES, UserError, Users } from './users.js';

function open(dataDir: string) {
  ensurePrivateDir(resolve(dataDir)); // accounts may be made before the hub first starts
  const db = openHubDb(join(resolve(dataDir), 'hub.db'));
  return { db, users: new Users(db, new AuditLog(db)) };
}

const passwordFromStdin = () => readFileSync(0, 'utf8').split(/\r?\n/)[0]!;

async function run(dataDir: string, f: (users: Users) => Promise<void> | void): Promise<void> {
  const { db, users } = open(dataDir);
  try {
    await f(users);
  } catch (e) {
    if (e instanceof UserError || e instanceof z.ZodError) {
      console.error(e instanceof z.ZodError ? z.prettifyError(e) : e.message);
      process.exitCode = 2;
    } else throw e;
  } finally {
    db.close();
  }
}

const DEFAULT_DATA = '/var/lib/haochaping/hub';
/** Each subcommand takes --data itself (`haochaping hub user add --data DIR …`): the hub command's options are positional. */
const dataDir = (cmd: Command): string => cmd.opts().data as string;
const withData = (cmd: Command): Command => cmd.option('--data <dir>', 'hub data directory (its hub.db)', DEFAULT_DATA);

export function addUserCommands(hub: Command): void {
  const user = hub.command('user').description('staff accounts for the hall web page (roles: admin, supervisor, viewer)');
  withData(user.command('add'))
    .description('add an account; prints the password (generated unless --password-stdin)')
    .requiredOption('--name <name>', 'log-in name (2–32 letters, digits, _ . @ -)')
    .addOption(new Option('--role <role>', 'what the account may do').choices([...STAFF_ROLES]).makeOptionMandatory())
    .option('--display-name <name>', "the person's name as shown on the page")
    .option('--password-stdin', 'read the password (≥ 10 characters) from the first line of stdin', false)
    .action((o, cmd: Command) =>
      run(dataDir(cmd), async (users) => {
        const { user: u, password } = await users.add('cli', {
          name: o.name,
          role: o.role,
          displayName: o.displayName,
          password: o.passwordStdin ? passwordFromStdin() : undefined,
        });
        console.log(`added ${u.name} (${u.role} ${ROLE_LABELS[u.role]})`);
        if (!o.passwordStdin) console.log(`password: ${password}`);
      }),
    );
  withData(user.command('passwd'))
    .description("set a new password (read from stdin); ends the account's sessions")
    .requiredOption('--name <name>', 'log-in name')
    .action((o, cmd: Command) =>
      run(dataDir(cmd), (users) =>
        users.setPassword('cli', o.name, passwordFromStdin()).then(() => console.log(`password of ${o.name} changed`)),
      ),
    );
  withData(user.command('disable'))
    .description('disable an account (it keeps its history); --enable to undo')
    .requiredOption('--name <name>', 'log-in name')
    .option('--enable', 'enable it again', false)
    .action((o, cmd: Command) =>
      run(dataDir(cmd), (users) => {
        users.setDisabled('cli', o.name, !o.enable);
        console.log(`${o.name} ${o.enable ? 'enabled' : 'disabled'}`);
      }),
    );
  withData(user.command('list'))
    .description('list the accounts')
    .action((o, cmd: Command) =>
      run(dataDir(cmd), (users) => {
        for (const u of users.list()) console.log(`${u.name}\t${u.role}\t${u.displayName ?? ''}\t${u.disabledAt ? 'disabled' : 'active'}`);
      }),
    );
}
