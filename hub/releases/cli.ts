/**
 * `haochaping hub release add|list|rollout`: fleet updates. `add` checks and stores a bundle
 * in the hub's data directory (no running hub needed); `list` and `rollout` ask the running
 * hub, which pushes the new configs to the devices.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { PINNED_KEY } from '../../common/install/install.js';
import { keyFingerprint, ReleaseError } from '../../common/release/manifest.js';
import { api, run, target } from '../cli/commands.js';
import { openHubDb } from '../store/db.js';
import { Releases, ReleaseStoreError } from './releases.js';

const DEFAULT_DATA = '/var/lib/haochaping/hub';

const percent = (v: string): number => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n > 100) throw new InvalidArgumentError('a percentage from 0 to 100');
  return n;
};

/** One line, exit 1: a refused bundle or release; exit 2: a file or directory that is not there. */
function fail(e: unknown): never {
  if (e instanceof ReleaseError) {
    console.error(`refused (${e.reason}): ${e.message}`);
    process.exit(1);
  }
  if (e instanceof ReleaseStoreError) {
    console.error(`refused (${e.code}): ${e.message}`);
    process.exit(1);
  }
  if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES') {
    console.error(`cannot add the release: ${(e as Error).message}`);
    process.exit(2);
  }
  throw e;
}

interface ListReply {
  releases: { version: string; platform: string; size: number; files: number; keyFingerprint: string; targeted: number; running: number }[];
  devices: {
    id: string;
    running: string | null;
    target: string | null;
    update: { version: string; state: string; reason?: string } | null;
  }[];
}

export function addReleaseCommands(hub: Command): void {
  const release = hub
    .command('release')
    .description('fleet updates: signed release bundles for the evaluators, rolled out through the hub');
  release
    .command('add <bundle>')
    .description("check a bundle (signature by the hub's pinned release key, every hash) and keep it for rollout")
    .option('--data <dir>', 'hub data directory', DEFAULT_DATA)
    .option('--release-key <file>', 'the pinned release public key', PINNED_KEY)
    .action(async (bundle: string, o: { data: string; releaseKey: string }) => {
      try {
        const data = resolve(o.data);
        if (!existsSync(join(data, 'hub.db'))) {
          console.error(`no hub database in ${data} (start the hub once, or give --data)`);
          process.exit(2);
        }
        const pem = readFileSync(resolve(o.releaseKey), 'utf8');
        const db = openHubDb(join(data, 'hub.db'));
        try {
          const { release: r, added } = await new Releases(db, data).add(resolve(bundle), pem);
          console.log(
            `${added ? 'added' : 'already here'}: haochaping ${r.version} for ${r.platform}, ${r.files} files, ${(r.size / 1048576).toFixed(1)} MiB, signed by ${keyFingerprint(pem)}`,
          );
        } finally {
          db.close();
        }
      } catch (e) {
        fail(e);
      }
    });
  target(release.command('list'))
    .description('releases on the hub, and per device: the release it runs, its target and its update state')
    .action(
      run(async (o: Parameters<typeof api>[0] & { json: boolean }) => {
        const r = await api(o).call<ListReply>('GET', '/api/releases');
        if (o.json) return void console.log(JSON.stringify(r));
        for (const x of r.releases)
          console.log(
            `${x.version}  ${x.platform}  ${x.files} files  key ${x.keyFingerprint}  targeted ${x.targeted}  running ${x.running}`,
          );
        if (!r.releases.length) console.log('no releases (add one with "hub release add BUNDLE")');
        for (const d of r.devices)
          console.log(
            `  ${d.id}: runs ${d.running ?? '-'}, target ${d.target ?? '-'}${d.update ? `, update ${d.update.version} ${d.update.state}${d.update.reason ? ` (${d.update.reason})` : ''}` : ''}`,
          );
      }),
    );
  target(release.command('rollout <version>'))
    .description('roll a release out: to named devices, a stable percentage (raise it later to add devices) or all')
    .option('--devices <ids>', 'comma-separated device ids', (v) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .option('--percent <n>', 'this share of the devices in service, always the same ones first', percent)
    .option('--all', 'every device in service', false)
    .action(
      run(async (version: string, o: Parameters<typeof api>[0] & { json: boolean; devices?: string[]; percent?: number; all: boolean }) => {
        const given = [o.devices !== undefined, o.percent !== undefined, o.all].filter(Boolean).length;
        if (given !== 1) {
          console.error('give exactly one of --devices, --percent or --all');
          process.exit(2);
        }
        const body = o.devices ? { devices: o.devices } : o.percent !== undefined ? { percent: o.percent } : { all: true };
        const r = await api(o).call<{ newlyTargeted: string[]; targeted: number; devices: number }>(
          'POST',
          `/api/releases/${encodeURIComponent(version)}/rollout`,
          body,
        );
        if (o.json) return void console.log(JSON.stringify(r));
        console.log(
          `release ${version}: ${r.targeted} of ${r.devices} devices targeted${r.newlyTargeted.length ? ` (new: ${r.newlyTargeted.join(', ')})` : ' (no new devices)'}`,
        );
      }),
    );
}
