/**
 * The running release's version, from the package.json beside the code (the project root in a
 * checkout, the release directory in an installed bundle). One source: `npm version` and
 * `release build --version` change it, nothing else declares it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageJson(from: string): string {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`no package.json above ${from}`);
}

/** The directory the running release lives in (holds package.json, bin/, dist/, node_modules/). */
export const RELEASE_ROOT = dirname(findPackageJson(dirname(fileURLToPath(import.meta.url))));

export const VERSION: string = (JSON.parse(readFileSync(join(RELEASE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** What a device reports as its firmware, and what `haochaping --version` prints. */
export const FIRMWARE_VERSION = `haochaping-device/${VERSION}`;
