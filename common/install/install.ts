/**
 * `haochaping install device|hub`: puts a signed release bundle on an evaluator or the hall
 * server the way hall IT run it — a system user, directories (data 0700), the release under
 * /opt/haochaping/releases/<version> with an atomically switched `current` link, the stable
 * launcher, the pinned release key under /etc, an options file, and the systemd unit.
 * Idempotent: a second run with the same bundle changes nothing and says so. `--root DIR`
 * stages the whole tree under DIR (no user, no systemctl). Uninstall keeps the data.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { readSignedManifest, unpackBundle, verifyTree } from '../release/bundle.js';
import { ReleaseSlots } from '../release/slots.js';
import { envFile, SERVICE_USER, unitFile, unitName, type Role } from './units.js';
import { launcherScript } from './launcher.js';

export class InstallError extends Error {
  override readonly name = 'InstallError';
}

export interface InstallOptions {
  role: Role;
  /** '/' for a real install; a directory stages everything under it. */
  root: string;
  bundle: string;
  /** The release public key to pin at the first install (later installs use the pinned one). */
  releaseKey?: string;
  allowDowngrade?: boolean;
  /** The node binary the launcher runs (default: the one running this). */
  node?: string;
  user?: string;
}

export const OPT = '/opt/haochaping';
export const ETC = '/etc/haochaping';
export const VARLIB = '/var/lib/haochaping';
export const PINNED_KEY = `${ETC}/release.pub`;

export function installPaths(root: string, role: Role) {
  const at = (p: string) => join(root, p);
  return {
    opt: at(OPT),
    bin: at(`${OPT}/bin`),
    launcher: at(`${OPT}/bin/haochaping`),
    etc: at(ETC),
    key: at(PINNED_KEY),
    env: at(`${ETC}/${role}.env`),
    varlib: at(VARLIB),
    data: at(`${VARLIB}/${role}`),
    unit: at(`/etc/systemd/system/${unitName(role)}`),
    command: at('/usr/local/bin/haochaping'),
  };
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function userExists(user: string): boolean {
  try {
    sh('id', ['-u', user]);
    return true;
  } catch {
    return false;
  }
}

function groupExists(group: string): boolean {
  try {
    sh('getent', ['group', group]);
    return true;
  } catch {
    return false;
  }
}

export async function install(o: InstallOptions): Promise<string[]> {
  const changed: string[] = [];
  const p = installPaths(o.root, o.role);
  const user = o.user ?? SERVICE_USER;
  const real = o.root === '/';

  const dir = (path: string, mode: number) => {
    if (!existsSync(path)) {
      mkdirSync(path, { recursive: true, mode });
      changed.push(`made ${path}`);
    }
    if ((statSync(path).mode & 0o777) !== mode) {
      chmodSync(path, mode);
      changed.push(`mode ${mode.toString(8)} on ${path}`);
    }
  };
  const file = (path: string, content: string, mode: number, keepExisting = false) => {
    const exists = existsSync(path);
    if (exists && (keepExisting || readFileSync(path, 'utf8') === content)) {
      if ((statSync(path).mode & 0o777) !== mode) {
        chmodSync(path, mode);
        changed.push(`mode ${mode.toString(8)} on ${path}`);
      }
      return;
    }
    writeFileAtomic(path, content, mode);
    chmodSync(path, mode);
    changed.push(`${exists ? 'updated' : 'wrote'} ${path}`);
  };

  if (real) {
    if (process.getuid?.() !== 0) throw new InstallError('installing into / needs root (or stage it with --root DIR)');
    if (!userExists(user)) {
      sh('useradd', ['--system', '--home-dir', VARLIB, '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
      changed.push(`made system user ${user}`);
    }
    if (o.role === 'device') {
      for (const g of ['gpio', 'spi', 'dialout', 'audio']) {
        if (!groupExists(g)) continue;
        const groups = sh('id', ['-nG', user]).trim().split(/\s+/);
        if (!groups.includes(g)) {
          sh('usermod', ['-aG', g, user]);
          changed.push(`${user} joins group ${g}`);
        }
      }
    }
  }

  dir(p.etc, 0o755);
  dir(p.opt, 0o755);
  dir(p.bin, 0o755);
  dir(p.varlib, 0o700);
  dir(p.data, 0o700);

  // The release key is pinned once; a bundle signed by another key is never installed.
  const given = o.releaseKey ? readFileSync(o.releaseKey, 'utf8') : null;
  if (!existsSync(p.key)) {
    if (given === null)
      throw new InstallError(
        `no release key pinned at ${PINNED_KEY}: give --release-key FILE (the release.pub of whoever signs your bundles)`,
      );
    file(p.key, given, 0o644);
  } else if (given !== null && readFileSync(p.key, 'utf8') !== given) {
    throw new InstallError(
      `${PINNED_KEY} pins another release key; to re-key, remove it by hand first (devices would then trust the new key)`,
    );
  }
  const publicPem = readFileSync(p.key, 'utf8');

  const slots = new ReleaseSlots(p.opt);
  // Signed by the pinned key, or nothing happens — even when it names the version installed now.
  const signed = await readSignedManifest(o.bundle, publicPem);
  const wanted = signed.manifest.version;
  const current = slots.currentVersion();
  let intact = false;
  const installedManifest = join(slots.releasesDir, wanted, 'manifest.json');
  if (current === wanted && existsSync(installedManifest) && readFileSync(installedManifest).equals(signed.bytes)) {
    try {
      await verifyTree(join(slots.releasesDir, wanted), { publicPem, allowDowngrade: true });
      intact = true;
    } catch {
      intact = false;
    }
  }
  if (!intact) {
    const { manifest } = await unpackBundle(o.bundle, slots.releasesDir, {
      publicPem,
      currentVersion: current ?? undefined,
      allowDowngrade: o.allowDowngrade,
    });
    slots.switchTo(manifest.version);
    changed.push(`release ${manifest.version} is current${current ? ` (was ${current})` : ''}`);
  }

  file(p.launcher, launcherScript(OPT, o.node ?? process.execPath), 0o755);
  file(p.env, envFile(o.role), 0o640, true);
  dir(join(o.root, '/etc/systemd/system'), 0o755);
  file(p.unit, unitFile(o.role, user), 0o644);
  dir(join(o.root, '/usr/local/bin'), 0o755);
  if (!lstatSafe(p.command)) {
    symlinkSync(`${OPT}/bin/haochaping`, p.command);
    changed.push(`linked ${p.command}`);
  } else if (readlinkSafe(p.command) !== `${OPT}/bin/haochaping`) {
    throw new InstallError(`${p.command} exists and is not the haochaping launcher link; move it away first`);
  }

  if (real || userExists(user)) {
    const { uid, gid } = idsOf(user);
    for (const path of [p.varlib, p.data, ...(o.role === 'device' ? [p.opt, slots.releasesDir] : [])]) {
      const st = statSync(path);
      if (st.uid !== uid || st.gid !== gid) {
        chownSync(path, uid, gid);
        changed.push(`${user} owns ${path}`);
      }
    }
  }
  if (real && changed.length > 0) {
    sh('systemctl', ['daemon-reload']);
    sh('systemctl', ['enable', unitName(o.role)]);
  }
  return changed;
}

function idsOf(user: string): { uid: number; gid: number } {
  return { uid: Number(sh('id', ['-u', user]).trim()), gid: Number(sh('id', ['-g', user]).trim()) };
}

function lstatSafe(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function readlinkSafe(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/** Removes the unit, the releases and the command link; keeps /var/lib/haochaping (the data) and /etc/haochaping (options, pinned key). */
export function uninstall(role: Role, root: string): string[] {
  const p = installPaths(root, role);
  const changed: string[] = [];
  if (root === '/' && existsSync(p.unit)) {
    try {
      sh('systemctl', ['disable', '--now', unitName(role)]);
    } catch {
      // not running / systemd absent: nothing to stop
    }
  }
  for (const path of [p.unit, p.command, p.opt]) {
    if (lstatSafe(path)) {
      rmSync(path, { recursive: true, force: true });
      changed.push(`removed ${path}`);
    }
  }
  if (root === '/' && changed.length) {
    try {
      sh('systemctl', ['daemon-reload']);
    } catch {
      // no systemd: nothing to reload
    }
  }
  return changed;
}
