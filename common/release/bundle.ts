/**
 * Release bundles: a gzipped tar of one release directory — compiled code, production
 * node_modules built on the target platform, package metadata, hardware-notes.md — with
 * `manifest.json` (SHA-256 of every file) and `manifest.sig` (Ed25519 by the release key).
 *
 * Unpacking never trusts the archive: it is extracted into an empty directory beside the
 * releases, every entry must be a plain file or directory listed in the signed manifest with
 * its hash, and only then is the directory renamed into place (one atomic step).
 */
import { fsyncPath } from '../fsync.js';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import {
  compareVersions,
  MANIFEST_FILE,
  manifestSignatureValid,
  parseManifest,
  platformOfThisMachine,
  ReleaseError,
  sha256,
  SIGNATURE_FILE,
  signManifest,
  type Manifest,
} from './manifest.js';

const run = promisify(execFile);

/** What goes into a release, relative to the project root (node_modules is added pruned). */
const RELEASE_PATHS = ['dist', 'bin/haochaping.js', 'hub/web/static', 'hub/forwarder/profiles', 'package.json', 'package-lock.json', 'hardware-notes.md', 'README.md'];
/** Never shipped: benchmarks, and dist folders of things that are not part of the product. */
const EXCLUDED = new Set(['dist/bench', 'dist/test']);

function walkFiles(root: string, onEntry: (rel: string, kind: 'file' | 'dir' | 'other') => void, dir = root): void {
  for (const name of readdirSync(dir)) {
    const abs = join(dir, name);
    const rel = relative(root, abs).split(sep).join('/');
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      onEntry(rel, 'dir');
      if (existsSync(abs)) walkFiles(root, onEntry, abs);
    } else onEntry(rel, st.isFile() ? 'file' : 'other');
  }
}


/**
 * A directory of prebuilt binaries for another platform: `…/prebuilds/<platform>-<arch>[+<arch>…]`,
 * the layout prebuildify and node-gyp-build use (e.g. `linux-x64`, `darwin-x64+arm64`).
 */
export function isForeignPrebuild(rel: string, platform: string = process.platform, arch: string = process.arch): boolean {
  const m = /(?:^|\/)prebuilds\/([^/]+)$/.exec(rel);
  if (!m) return false;
  const [os, archs = ''] = m[1]!.split(/-(.*)/s);
  return !(os === platform && archs.split('+').includes(arch));
}

/**
 * A file of a dependency that nothing loads at run time: source maps, type declarations and
 * TypeScript sources (Node 20 runs neither), and documents other than licences and readmes (some
 * packages, johnny-five and firmata among them, carry their licence notice only in the readme,
 * and it must travel with every copy). Our own dist/ keeps its source maps, for stack traces.
 * better-sqlite3's deps/ (SQLite's source, 10 MB) goes too: the bundle carries the built module
 * and is never rebuilt where it is installed.
 */
function buildOnly(rel: string, kind: 'file' | 'dir'): boolean {
  if (!rel.startsWith('node_modules/')) return false;
  if (kind === 'dir') return rel === 'node_modules/better-sqlite3/deps';
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (/\.(map|ts|mts|cts)$/.test(name)) return true;
  return /\.(md|markdown)$/i.test(name) && !/^(licen[cs]e|copying|notice|authors|readme)/i.test(name);
}

export interface BuildOptions {
  projectDir: string;
  outDir: string;
  privatePem: string;
  /** Overrides package.json's version in the bundle (for a hotfix build or a test's second version). */
  version?: string;
}

/** Builds, hashes and signs a bundle of the compiled tree for this machine's platform. */
export async function buildBundle(o: BuildOptions): Promise<{ file: string; manifest: Manifest }> {
  const pkg = JSON.parse(readFileSync(join(o.projectDir, 'package.json'), 'utf8')) as { version: string };
  const version = o.version ?? pkg.version;
  if (!existsSync(join(o.projectDir, 'dist', 'bin', 'main.js'))) throw new ReleaseError('malformed', 'the project is not built: run `npm run build` first');
  const platform = platformOfThisMachine();
  const stage = mkdtempSync(join(tmpdir(), 'hcp-release-'));
  const root = join(stage, `haochaping-${version}-${platform}`);
  try {
    mkdirSync(root);
    for (const p of RELEASE_PATHS) {
      const from = join(o.projectDir, p);
      if (!existsSync(from)) continue;
      cpSync(from, join(root, p), { recursive: true, filter: (src) => !EXCLUDED.has(relative(o.projectDir, src).split(sep).join('/')) });
    }
    // Production dependencies only, as built on this machine (native modules included): copy the
    // installed tree and let npm remove what is dev-only. Nothing is downloaded.
    // (realpath: a checkout's node_modules may itself be a link, which must be copied, not followed by npm.)
    cpSync(realpathSync(join(o.projectDir, 'node_modules')), join(root, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    await run('npm', ['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--offline'], { cwd: root, maxBuffer: 16 << 20 });
    // Links (node_modules/.bin) are not needed at run time and are refused when unpacking; nor are
    // the intermediate files of native builds (objects, static libraries), only the built .node.
    // Nor are prebuilt binaries for other platforms (sodium-native ships 13 of them, 18 MB): a
    // bundle is for the platform it was built on.
    // Nor what a dependency ships for its developers (see buildOnly): over a third of the bytes
    // and a third of the files, each of which a Pi writes to its SD card on every update.
    walkFiles(root, (rel, kind) => {
      if (kind === 'other' || (kind === 'file' && rel.endsWith('.a'))) rmSync(join(root, rel), { force: true });
      if (kind !== 'other' && buildOnly(rel, kind)) rmSync(join(root, rel), { recursive: true, force: true });
      if (kind === 'dir' && /(^|\/)build\/Release\/(obj|obj\.target|\.deps)$/.test(rel)) rmSync(join(root, rel), { recursive: true, force: true });
      if (kind === 'dir' && isForeignPrebuild(rel)) rmSync(join(root, rel), { recursive: true, force: true });
    });
    const manifest = sealTree(root, version, o.privatePem);
    const file = await packTree(root, o.outDir);
    return { file, manifest };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * Writes the manifest of a release directory (every file's SHA-256) for `version` and signs it.
 * Used by build, and to re-seal a tree (a hotfix, or a test's second version).
 */
export function sealTree(root: string, version: string, privatePem: string): Manifest {
  for (const f of [MANIFEST_FILE, SIGNATURE_FILE]) rmSync(join(root, f), { force: true });
  const pkgPath = join(root, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
  if (pkg.version !== version) {
    // A new file, renamed over the old: the tree may share files (hard links) with another release.
    writeFileSync(`${pkgPath}.tmp`, JSON.stringify({ ...pkg, version }, null, 2) + '\n');
    renameSync(`${pkgPath}.tmp`, pkgPath);
  }
  const files: Manifest['files'] = {};
  walkFiles(root, (rel, kind) => {
    if (kind !== 'file') return;
    const abs = join(root, rel);
    const data = readFileSync(abs);
    files[rel] = { sha256: sha256(data), size: data.byteLength, executable: (statSync(abs).mode & 0o111) !== 0 };
  });
  const manifest: Manifest = { format: 1, name: 'haochaping', version, platform: platformOfThisMachine(), nodeAbi: process.versions.modules, createdAt: new Date().toISOString(), files };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 1) + '\n');
  writeFileSync(join(root, MANIFEST_FILE), manifestBytes);
  writeFileSync(join(root, SIGNATURE_FILE), signManifest(manifestBytes, privatePem));
  return manifest;
}

/** Packs a sealed release directory as `<outDir>/haochaping-<version>-<platform>.tar.gz` (written atomically). */
export async function packTree(root: string, outDir: string): Promise<string> {
  const m = parseManifest(readFileSync(join(root, MANIFEST_FILE)));
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `haochaping-${m.version}-${m.platform}.tar.gz`);
  const tmp = `${file}.tmp-${process.pid}`;
  // The signed manifest first, so a reader finds it without reading the whole archive.
  const rest = readdirSync(root).filter((n) => n !== MANIFEST_FILE && n !== SIGNATURE_FILE);
  await run('tar', ['-czf', tmp, '-C', root, MANIFEST_FILE, SIGNATURE_FILE, ...rest], { maxBuffer: 16 << 20 });
  renameSync(tmp, file);
  return file;
}

/** Re-signs a bundle directory's manifest (`release sign`, for a key kept on another machine). */
export function signTree(dir: string, privatePem: string): void {
  const bytes = readFileSync(join(dir, MANIFEST_FILE));
  parseManifest(bytes);
  writeFileSync(join(dir, SIGNATURE_FILE), signManifest(bytes, privatePem));
}

export interface TrustOptions {
  /** The pinned release public key (PEM). */
  publicPem: string;
  /** The version running now: an older bundle is a downgrade. */
  currentVersion?: string;
  allowDowngrade?: boolean;
  /** Refuse bundles built for another platform (native modules would not load). Default: this machine's. */
  platform?: string | null;
}

/** Refuses a release this machine must not take, whatever its files: another platform's, or a downgrade not asked for. */
function refuseUnwanted(m: Manifest, t: TrustOptions): void {
  const platform = t.platform === undefined ? platformOfThisMachine() : t.platform;
  if (platform !== null && m.platform !== platform) throw new ReleaseError('wrong-platform', `the bundle is for ${m.platform}, this machine is ${platform}`);
  if (t.currentVersion && !t.allowDowngrade && compareVersions(m.version, t.currentVersion) < 0) {
    throw new ReleaseError('downgrade', `the bundle's version ${m.version} is older than the running ${t.currentVersion} (allow a downgrade explicitly)`);
  }
}

/** Checks an unpacked release directory against its signed manifest; returns the manifest. */
export async function verifyTree(dir: string, t: TrustOptions): Promise<Manifest> {
  const found = new Set<string>();
  walkFiles(dir, (rel, kind) => {
    if (kind === 'other') throw new ReleaseError('unsafe-entry', `the bundle holds ${rel}, which is not a plain file (links and devices are refused)`);
    if (kind === 'file' && rel !== MANIFEST_FILE && rel !== SIGNATURE_FILE) found.add(rel);
  });
  if (!existsSync(join(dir, MANIFEST_FILE)) || !existsSync(join(dir, SIGNATURE_FILE))) throw new ReleaseError('malformed', 'the bundle has no signed manifest');
  const bytes = readFileSync(join(dir, MANIFEST_FILE));
  if (!manifestSignatureValid(bytes, readFileSync(join(dir, SIGNATURE_FILE)), t.publicPem)) {
    throw new ReleaseError('bad-signature', 'the bundle is not signed by the pinned release key');
  }
  const m = parseManifest(bytes);
  refuseUnwanted(m, t);
  let n = 0;
  for (const [rel, f] of Object.entries(m.files)) {
    // Hashing a release takes a while on a Pi: let ratings and the link run in between.
    if (++n % 64 === 0) await new Promise((r) => setImmediate(r));
    if (rel.startsWith('/') || rel.split('/').includes('..')) throw new ReleaseError('unsafe-entry', `the manifest names ${rel}`);
    if (!found.delete(rel)) throw new ReleaseError('missing-file', `${rel} is in the manifest but not in the bundle`);
    const data = readFileSync(join(dir, rel));
    if (data.byteLength !== f.size || sha256(data) !== f.sha256) throw new ReleaseError('hash-mismatch', `${rel} does not match its hash in the manifest`);
    chmodSync(join(dir, rel), f.executable ? 0o755 : 0o644);
  }
  const extra = [...found][0];
  if (extra !== undefined) throw new ReleaseError('unlisted-file', `${extra} is in the bundle but not in the manifest`);
  return m;
}

/** Extracts a bundle into a fresh directory next to `releasesDir`'s entries, verifies it, moves it to `releasesDir/<version>`. */
export async function unpackBundle(file: string, releasesDir: string, t: TrustOptions): Promise<{ dir: string; manifest: Manifest }> {
  // The signed manifest leads the archive: a foreign, older or other platform's bundle is refused
  // from it before the whole archive is written to a Pi's SD card. The files are checked after extraction.
  // An archive whose manifest cannot be read on its own (packed by hand as /manifest.json, say)
  // is left to the extraction and the full check below, which say what is wrong with it.
  const signed = await readSignedManifest(file, t.publicPem).catch((e: unknown) => {
    if (e instanceof ReleaseError && e.reason === 'malformed') return null;
    throw e;
  });
  if (signed) refuseUnwanted(signed.manifest, t);
  mkdirSync(releasesDir, { recursive: true });
  const tmp = mkdtempSync(join(releasesDir, '.incoming-'));
  try {
    try {
      // GNU tar refuses members with `..` and strips leading `/`; ownership is not taken from the archive.
      await run('tar', ['-xzf', file, '-C', tmp, '--no-same-owner', '--no-same-permissions'], { maxBuffer: 16 << 20 });
    } catch (e) {
      throw new ReleaseError('malformed', `the bundle is not a readable archive (${((e as { stderr?: string }).stderr ?? '').trim().split('\n')[0] || 'tar failed'})`);
    }
    const manifest = await verifyTree(tmp, t);
    const dir = join(releasesDir, manifest.version);
    if (existsSync(dir)) {
      // The same version is there already (maybe running): keep it if it is intact.
      try {
        await verifyTree(dir, { ...t, allowDowngrade: true });
        rmSync(tmp, { recursive: true, force: true });
        return { dir, manifest };
      } catch {
        renameSync(dir, `${dir}.broken-${Date.now()}`);
      }
    }
    renameSync(tmp, dir);
    fsyncPath(releasesDir);
    return { dir, manifest };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Reads a bundle's signed manifest without unpacking the rest, and checks the signature with the
 * pinned key (the files are checked against it by unpackBundle). Returns the manifest's bytes too,
 * so an installer can see the bundle is exactly the release it has already.
 */
export async function readSignedManifest(file: string, publicPem: string): Promise<{ manifest: Manifest; bytes: Buffer }> {
  const work = mkdtempSync(join(tmpdir(), 'hcp-manifest-'));
  try {
    // Bundles put the two first (`release build`); an archive packed by hand may hold them as ./name.
    for (const names of [[MANIFEST_FILE, SIGNATURE_FILE], [`./${MANIFEST_FILE}`, `./${SIGNATURE_FILE}`]]) {
      try {
        await run('tar', ['-xzf', file, '-C', work, '--no-same-owner', '--occurrence=1', ...names]);
        break;
      } catch {
        /* try the other spelling */
      }
    }
    if (!existsSync(join(work, MANIFEST_FILE)) || !existsSync(join(work, SIGNATURE_FILE))) throw new ReleaseError('malformed', 'the bundle is not a readable archive with a signed manifest');
    const bytes = readFileSync(join(work, MANIFEST_FILE));
    if (!manifestSignatureValid(bytes, readFileSync(join(work, SIGNATURE_FILE)), publicPem)) {
      throw new ReleaseError('bad-signature', 'the bundle is not signed by the pinned release key');
    }
    return { manifest: parseManifest(bytes), bytes };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Reads a bundle's manifest without trusting it (for listing); the signature is checked by unpackBundle/verifyTree. */
export async function readBundleManifest(file: string): Promise<Manifest> {
  // Bundles put it first (`release build`); an archive packed by hand may hold it as ./manifest.json.
  for (const name of [MANIFEST_FILE, `./${MANIFEST_FILE}`]) {
    try {
      const { stdout } = await run('tar', ['-xzOf', file, '--occurrence=1', name], { maxBuffer: 64 << 20, encoding: 'buffer' });
      return parseManifest(stdout);
    } catch (e) {
      if (e instanceof ReleaseError) throw e;
    }
  }
  throw new ReleaseError('malformed', 'the bundle is not a readable archive with a manifest');
}
