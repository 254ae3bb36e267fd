/**
 * A bad start of `haochaping hub` as hall IT meets it: every problem in the configuration is
 * found before the hub writes a file or opens a socket, and said in one line (no stack trace),
 * with exit code 2. The data directory stays as it was: no database, no admin token, no password.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';

// Each case starts the CLI once; on a loaded two-core machine that alone can take half a minute.
const SPAWN_TIMEOUT_MS = 120_000;
let dir = '';
let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.reverse()) c();
  cleanup = [];
  rmSync(dir, { recursive: true, force: true });
});

function hub(args: string[], data = join(dir, 'hub'), env: Record<string, string> = {}) {
  const r = spawnSync(
    process.execPath,
    [CLI_PATH, 'hub', '--data', data, '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', '0', ...args],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: (r.stdout + r.stderr).split('\n').filter(Boolean) };
}

/** One line on stderr naming the problem, nothing else said, exit 2, and the data directory never made. */
function expectOneLineRefusal(r: ReturnType<typeof hub>, message: RegExp, data = join(dir, 'hub')): void {
  expect(r.lines, r.stdout + r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^haochaping hub: /);
  expect(r.stderr).toMatch(message);
  expect(r.code).toBe(2);
  expect(existsSync(data) ? readdirSync(data) : []).toEqual([]);
}

describe('haochaping hub refuses a bad configuration before it starts anything', () => {
  it(
    'a policy file that does not exist: one line, exit 2, nothing written',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      expectOneLineRefusal(
        hub(['--policy', join(dir, 'no-such-policy.json')]),
        /policy must be one of hubei, ankang, jilin or a JSON file; cannot read .*no-such-policy\.json/,
      );
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'a province configuration that is not valid YAML: one line naming the file, exit 2, nothing written',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      const file = join(dir, 'province.yaml');
      writeFileSync(file, 'url: https://hcp.example.gov.cn/api/evaluations\nprofile: [native\nareaCode: 420100\n');
      expectOneLineRefusal(hub(['--province-config', file]), /--province-config .*province\.yaml: /);
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'a TLS key that is not PEM: one line naming the file, exit 2, nothing written',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      const key = join(dir, 'hub.key');
      const cert = join(dir, 'hub.crt');
      writeFileSync(key, 'this is not a key\n');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          join(dir, 'real.key'),
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=hub',
        ],
        { stdio: 'ignore' },
      );
      expectOneLineRefusal(
        hub(['--tls-key', key, '--tls-cert', cert, '--mqtts-port', '0']),
        /the TLS key .*hub\.key is not a PEM private key/,
      );
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'a TLS key that belongs to another certificate: one line, exit 2, nothing written',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      const req = (name: string) =>
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-keyout',
            join(dir, `${name}.key`),
            '-out',
            join(dir, `${name}.crt`),
            '-days',
            '1',
            '-subj',
            `/CN=${name}`,
          ],
          { stdio: 'ignore' },
        );
      req('a');
      req('b');
      expectOneLineRefusal(
        hub(['--tls-key', join(dir, 'a.key'), '--tls-cert', join(dir, 'b.crt'), '--mqtts-port', '0']),
        /does not belong to the certificate/,
      );
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'an HTTP port already in use: one line naming the port, exit 2, no file written',
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      const taken: Server = createServer();
      await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
      cleanup.push(() => taken.close());
      const port = (taken.address() as { port: number }).port;
      const r = hub(['--http-port', String(port)]);
      expectOneLineRefusal(r, new RegExp(`the HTTP port 127\\.0\\.0\\.1:${port} is in use`));
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'a data directory that cannot be written: one line, exit 2, nothing written',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      const ro = join(dir, 'ro');
      mkdirSync(ro);
      if (process.getuid?.() === 0) {
        // Root writes through permissions; a read-only file system stops it.
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
        cleanup.push(() => execFileSync('umount', [ro]));
      } else {
        execFileSync('chmod', ['0555', ro]);
      }
      const data = join(ro, 'hub');
      expectOneLineRefusal(hub([], data), /data directory .*ro\/hub cannot be written/, data);
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'a first admin password from the environment that is too short: one line naming the variable, exit 2, nothing written',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      expectOneLineRefusal(
        hub([], join(dir, 'hub'), { HCP_WEB_ADMIN_PASSWORD: 'short' }),
        /HCP_WEB_ADMIN_PASSWORD is not usable: .*at least 10 characters/,
      );
    },
    SPAWN_TIMEOUT_MS,
  );

  it(
    'one port given for both MQTT and HTTP: one line, exit 2, before any port is tried',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'hcp-cfg-'));
      const r = spawnSync(
        process.execPath,
        [CLI_PATH, 'hub', '--data', join(dir, 'hub'), '--host', '127.0.0.1', '--mqtt-port', '18830', '--http-port', '18830'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.stderr).toMatch(/^haochaping hub: the HTTP port 18830 is also the MQTT port/);
      expect(r.status).toBe(2);
      expect(existsSync(join(dir, 'hub'))).toBe(false);
    },
    SPAWN_TIMEOUT_MS,
  );
});
