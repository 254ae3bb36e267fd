/** `haochaping release keygen|build|sign|verify`: making and checking signed release bundles. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { writeFileAtomic } from '../atomic-file.js';
import { buildBundle, packTree, signTree, unpackBundle } from './bundle.js';
import { generateReleaseKeys, keyFingerprint, ReleaseError } from './manifest.js';
import { RELEASE_ROOT, VERSION } from '../version.js';

const run = promisify(execFile);

/** One line for the operator, exit 1 for a refused bundle, 2 for a usage/file problem. */
async function guarded(f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (e instanceof ReleaseError) {
      console.error(`refused (${e.reason}): ${e.message}`);
      process.exit(1);
    }
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      console.error(`no such file: ${(e as NodeJS.ErrnoException).path ?? ''}`);
      process.exit(2);
    }
    throw e;
  }
}

export function readKeyFile(path: string): string {
  if (!existsSync(path)) throw Object.assign(new Error(`no such file: ${path}`), { code: 'ENOENT', path });
  return readFileSync(path, 'utf8');
}

export function registerReleaseCommands(program: Command): void {
  const release = program.command('release').description('signed release bundles for evaluators and hubs (build on the target platform)');
  release
    .command('keygen')
    .description('make the release signing key pair (keep release.key offline; release.pub goes to every device and hub at install)')
    .requiredOption('--out <dir>', 'where to write release.key (0600) and release.pub')
    .action((o: { out: string }) =>
      guarded(async () => {
        const dir = resolve(o.out);
        if (existsSync(join(dir, 'release.key'))) {
          console.error(`${join(dir, 'release.key')} exists already: not overwriting a release key`);
          process.exit(2);
        }
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const k = generateReleaseKeys();
        writeFileAtomic(join(dir, 'release.key'), k.privatePem, 0o600);
        writeFileAtomic(join(dir, 'release.pub'), k.publicPem, 0o644);
        console.log(`release key ${keyFingerprint(k.publicPem)}: ${join(dir, 'release.key')} (keep offline), ${join(dir, 'release.pub')}`);
      }),
    );
  release
    .command('build')
    .description('bundle the compiled tree with its production node_modules for this platform, hashed and signed')
    .requiredOption('--key <file>', 'release private key (PEM)')
    .option('--out <dir>', 'where the bundle goes', 'release')
    .option('--version <v>', 'version to stamp (default: package.json)')
    .action((o: { key: string; out: string; version?: string }) =>
      guarded(async () => {
        const { file, manifest } = await buildBundle({ projectDir: RELEASE_ROOT, outDir: resolve(o.out), privatePem: readKeyFile(resolve(o.key)), version: o.version });
        console.log(`${file}: haochaping ${manifest.version} for ${manifest.platform}, ${Object.keys(manifest.files).length} files`);
      }),
    );
  release
    .command('sign <bundle>')
    .description('sign (or re-sign) a bundle with the release key')
    .requiredOption('--key <file>', 'release private key (PEM)')
    .action((bundle: string, o: { key: string }) =>
      guarded(async () => {
        const work = mkdtempSync(join(tmpdir(), 'hcp-sign-'));
        try {
          await run('tar', ['-xzf', resolve(bundle), '-C', work, '--no-same-owner']);
          signTree(work, readKeyFile(resolve(o.key)));
          const file = await packTree(work, work + '-out');
          await run('mv', ['-f', file, resolve(bundle)]);
          rmSync(work + '-out', { recursive: true, force: true });
          console.log(`${resolve(bundle)}: signed`);
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      }),
    );
  release
    .command('verify <bundle>')
    .description('check a bundle: signature by the pinned key, every file\'s hash, platform, no downgrade')
    .requiredOption('--pubkey <file>', 'the pinned release public key', '/etc/haochaping/release.pub')
    .option('--current-version <v>', 'refuse older bundles than this', VERSION)
    .option('--allow-downgrade', 'accept an older version', false)
    .action((bundle: string, o: { pubkey: string; currentVersion: string; allowDowngrade: boolean }) =>
      guarded(async () => {
        const work = mkdtempSync(join(tmpdir(), 'hcp-verify-'));
        try {
          const { manifest } = await unpackBundle(resolve(bundle), work, {
            publicPem: readKeyFile(resolve(o.pubkey)),
            currentVersion: o.currentVersion,
            allowDowngrade: o.allowDowngrade,
          });
          console.log(`ok: haochaping ${manifest.version} for ${manifest.platform}, ${Object.keys(manifest.files).length} files, signed by ${keyFingerprint(readKeyFile(resolve(o.pubkey)))}`);
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      }),
    );
}
