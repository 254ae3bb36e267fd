/**
 * Everything the hub's configuration names is loaded and checked here, before anything starts:
 * the settings themselves, the data directory, the working-day calendar, the 差评 policy, the
 * TLS files, the province's profile and secrets, and the ports. Only then does the hub write a
 * file (database, first admin token and password) or listen on a socket. Every problem is one
 * ConfigError, one line hall IT can act on (like Zigbee2MQTT's settings.validate() before any
 * extension starts).
 */
import { constants, accessSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../common/config-error.js';
import { loadCalendar, type WorkingDayCalendar } from './calendar/working-days.js';
import { HubConfigSchema, type HubConfig, type HubConfigInput } from './config.js';
import { loadForwarderFiles, type ForwarderFiles } from './forwarder/create.js';
import { PasswordSchema } from './users/users.js';
import { loadPolicy, type PolicyProfile } from './workorders/policy.js';

/** The configuration, parsed, with what its files hold. */
export interface HubSetup {
  config: HubConfig;
  calendar: WorkingDayCalendar;
  policy: PolicyProfile;
  /** PEM contents (MQTT over TLS), checked to parse and to belong together. */
  tls: { port: number; key: Buffer; cert: Buffer; ca: Buffer | undefined } | null;
  province: ForwarderFiles | null;
  /** The hand-off (转办) destination's files. */
  handoff: ForwarderFiles | null;
  /** What the environment sets for the first start. */
  env: HubEnv;
}

/** Secrets hall IT may provision through the environment for the first start (unset: generated). */
export interface HubEnv {
  /** HCP_ADMIN_TOKEN: the first admin API token. */
  adminToken: string | null;
  /** HCP_WEB_ADMIN_PASSWORD: the hall page's first admin password. */
  webAdminPassword: string | null;
}

export async function loadHubSetup(input: HubConfigInput, environment: NodeJS.ProcessEnv = process.env): Promise<HubSetup> {
  const parsed = HubConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(`invalid hub configuration: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  const env = loadEnv(environment);
  checkDataDir(config.dataDir);
  const calendar = loadCalendar(config.holidayFile);
  const policy = loadPolicy(config.web.policy);
  const tls = config.mqtt.tls ? loadTls(config.mqtt.tls) : null;
  const province = config.province ? loadForwarderFiles(config.province) : null;
  let handoff: ForwarderFiles | null = null;
  try {
    handoff = config.handoff ? loadForwarderFiles(config.handoff.destination) : null;
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`invalid hand-off configuration (${config.handoff!.name}): ${e.message}`);
    throw e;
  }
  await checkPorts(config);
  return { config, calendar, policy, tls, province, handoff, env };
}

/** A token goes in an Authorization header: visible ASCII, no spaces. */
const TokenSchema = z
  .string()
  .max(200, 'at most 200 characters')
  .regex(/^[\x21-\x7e]+$/, 'visible ASCII characters only, no spaces');

function loadEnv(e: NodeJS.ProcessEnv): HubEnv {
  const check = <T>(name: string, schema: z.ZodType<T>, value: string | undefined): T | null => {
    if (!value) return null;
    const r = schema.safeParse(value);
    if (!r.success) throw new ConfigError(`${name} is not usable: ${r.error.issues.map((i) => i.message).join('; ')}`);
    return r.data;
  };
  return {
    adminToken: check('HCP_ADMIN_TOKEN', TokenSchema, e.HCP_ADMIN_TOKEN),
    webAdminPassword: check('HCP_WEB_ADMIN_PASSWORD', PasswordSchema, e.HCP_WEB_ADMIN_PASSWORD),
  };
}

/** The data directory, or the nearest folder above it that exists, must be a writable directory. Nothing is created. */
function checkDataDir(dir: string): void {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    if (!statSync(at).isDirectory()) throw new ConfigError(`data directory ${dir}: ${at} is not a directory`);
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`data directory ${dir} cannot be written (${at}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(
      `cannot read the TLS ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (make one with "haochaping hub tls init")`,
    );
  }
}

function loadTls(t: NonNullable<HubConfig['mqtt']['tls']>): HubSetup['tls'] {
  const key = readPem(t.keyFile, 'key');
  const cert = readPem(t.certFile, 'certificate');
  const ca = t.caFile ? readPem(t.caFile, 'CA certificate') : undefined;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (e) {
    throw new ConfigError(`the TLS key ${t.keyFile} is not a PEM private key (${(e as Error).message})`);
  }
  const parseCert = (pem: Buffer, file: string, what: string) => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new ConfigError(`the TLS ${what} ${file} is not a PEM certificate (${(e as Error).message})`);
    }
  };
  const leaf = parseCert(cert, t.certFile, 'certificate');
  if (ca) parseCert(ca, t.caFile!, 'CA certificate');
  if (!leaf.checkPrivateKey(keyObject)) throw new ConfigError(`the TLS key ${t.keyFile} does not belong to the certificate ${t.certFile}`);
  return { port: t.port, key, cert, ca };
}

/** Every fixed port the hub will listen on must be free now (0: the OS picks one, nothing to check). */
async function checkPorts(config: HubConfig): Promise<void> {
  const wanted: [string, string, number][] = [];
  if (config.mqtt.port) wanted.push(['MQTT', config.mqtt.host, config.mqtt.port]);
  if (config.mqtt.tls?.port) wanted.push(['MQTT over TLS', config.mqtt.host, config.mqtt.tls.port]);
  if (config.http.port) wanted.push(['HTTP', config.http.host, config.http.port]);
  for (let i = 0; i < wanted.length; i++) {
    const [what, , port] = wanted[i]!;
    const twice = wanted.slice(0, i).find((w) => w[2] === port);
    if (twice) throw new ConfigError(`the ${what} port ${port} is also the ${twice[0]} port: give each its own`);
  }
  for (const [what, host, port] of wanted) {
    const problem = await listenProblem(host, port);
    if (problem) throw new ConfigError(`the ${what} port ${host}:${port} ${problem}: stop what uses it or pick another port`);
  }
}

function listenProblem(host: string, port: number): Promise<string | null> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) =>
      res(
        e.code === 'EADDRINUSE' ? 'is in use' : e.code === 'EACCES' ? 'needs more privileges' : `cannot be opened (${e.code ?? e.message})`,
      ),
    );
    s.listen({ host, port, exclusive: true }, () => s.close(() => res(null)));
  });
}
