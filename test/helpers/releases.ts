/**
 * Real release bundles for tests, built from this tree: the first with package.json's version,
 * the second re-sealed from it with a bumped version (as a hotfix build would be), and the bad
 * ones an attacker or a careless release manager would make.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildBundle, packTree, sealTree, unpackBundle } from '../../common/release/bundle.js';
import { generateReleaseKeys } from '../../common/release/manifest.js';

export const PROJECT_DIR = resolve(import.meta.dirname, '..', '..');

export interface ReleaseFixtures {
  dir: string;
  keys: { privatePem: string; publicPem: string };
  publicKeyFile: string;
  otherKeys: { privatePem: string; publicPem: string };
  /** Real bundles of this tree: the first, and a second version re-sealed from it. */
  v1: { version: string; file: string };
  v2: { version: string; file: string };
  /**
   * The bad ones are small bundles (tinyBundle): what refuses them is the manifest, the signature
   * and the hashes, the same for 9,700 files as for three, and each real one cost the suite a pack
   * and an unpack of ~100 MB (seconds apiece, minutes in all on a loaded two-core machine).
   * `small` is v2's version, good, beside them.
   */
  small: string;
  /** v2's version with one file (dist/bin/main.js) changed after signing. */
  tampered: string;
  /** v2's version signed by a key nobody pinned. */
  foreign: string;
  /** An older version, properly signed. */
  older: { version: string; file: string };
  /** A sealed, unpacked copy of v1 to derive more versions from. */
  tree: string;
  close(): void;
}

/** Seals a copy of `tree` as `version` (optionally changed by `edit`) and packs it into `outDir`. */
export async function deriveBundle(
  tree: string,
  version: string,
  privatePem: string,
  outDir: string,
  edit?: (root: string) => void,
): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'hcp-derive-'));
  try {
    // Hard links: a second version differs from the first only in its manifest and package.json,
    // which sealTree writes as new files.
    rmSync(root, { recursive: true });
    execFileSync('cp', ['-al', tree, root]);
    edit?.(root);
    sealTree(root, version, privatePem);
    return await packTree(root, outDir);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export async function makeReleaseFixtures(): Promise<ReleaseFixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-releases-'));
  const keys = generateReleaseKeys();
  const otherKeys = generateReleaseKeys();
  const publicKeyFile = join(dir, 'release.pub');
  writeFileSync(publicKeyFile, keys.publicPem);
  const v1 = await buildBundle({ projectDir: PROJECT_DIR, outDir: join(dir, 'v1'), privatePem: keys.privatePem });
  const tree = join(dir, 'tree');
  const { dir: unpacked } = await unpackBundle(v1.file, tree, { publicPem: keys.publicPem });
  const [maj, min, pat] = v1.manifest.version.split('-')[0]!.split('.').map(Number) as [number, number, number];
  const v2version = `${maj}.${min + 1}.0`;
  const olderVersion = pat > 0 ? `${maj}.${min}.${pat - 1}` : `${maj}.${min}.0-rc.1`;
  const v2 = await deriveBundle(unpacked, v2version, keys.privatePem, join(dir, 'v2'));
  const withMain = (root: string) => {
    mkdirSync(join(root, 'dist', 'bin'), { recursive: true });
    writeFileSync(join(root, 'dist', 'bin', 'main.js'), "console.log('main');\n");
  };
  const small = await tinyBundle(v2version, keys.privatePem, join(dir, 'small'), withMain);
  const older = await tinyBundle(olderVersion, keys.privatePem, join(dir, 'older'), withMain);
  const foreign = await tinyBundle(v2version, otherKeys.privatePem, join(dir, 'foreign'), withMain);
  // Tampered: the signed small v2, one file changed afterwards, packed again.
  const t = mkdtempSync(join(tmpdir(), 'hcp-tamper-'));
  execFileSync('tar', ['-xzf', small, '-C', t]);
  appendFileSync(join(t, 'dist', 'bin', 'main.js'), '\n// one more line\n');
  const tampered = join(dir, 'tampered.tar.gz');
  execFileSync('tar', ['-czf', tampered, '-C', t, '.']);
  rmSync(t, { recursive: true, force: true });
  return {
    dir,
    keys,
    publicKeyFile,
    otherKeys,
    v1: { version: v1.manifest.version, file: v1.file },
    v2: { version: v2version, file: v2 },
    small,
    older: { version: olderVersion, file: older },
    foreign,
    tampered,
    tree: unpacked,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A small signed bundle (a package.json and a script, no node_modules) for tests of the hub's
 * release store and the device's updater that never run the release: seconds, not minutes.
 */
export async function tinyBundle(version: string, privatePem: string, outDir: string, edit?: (root: string) => void): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'hcp-tiny-'));
  try {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'haochaping', version }) + '\n');
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin', 'haochaping.js'), `console.log('haochaping ${version}');\n`, { mode: 0o755 });
    edit?.(root);
    sealTree(root, version, privatePem);
    return await packTree(root, outDir);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
