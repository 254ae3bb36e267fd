/**
 * Builds the forwarder from the hub's `province` configuration: loads the profile, reads CA
 * bundles and secrets from their files, and picks the transport. Every problem a hall IT person
 * can fix is reported here, at start-up, as a ForwarderConfigError.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';
import { DEFAULT_HMAC_HEADERS, type RequestAuth } from './auth.js';
import type { ProvinceConfig } from './config.js';
import { Forwarder } from './forwarder.js';
import type { Destination } from './messages.js';
import { requiredContext } from './mapping.js';
import { loadProfile, ProfileError, type Profile } from './profile.js';
import { HttpTransport } from './transport/http.js';
import { MqttTransport } from './transport/mqtt.js';
import type { Transport } from './transport/types.js';
import { ConfigError } from '../../common/config-error.js';

export class ForwarderConfigError extends ConfigError {
  override readonly name = 'ForwarderConfigError';
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ForwarderConfigError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

const secret = (file: string, what: string) => {
  const s = read(file, what).trim();
  if (!s) throw new ForwarderConfigError(`${what} ${file} is empty`);
  return s;
};

export function requestAuth(c: ProvinceConfig['auth']): RequestAuth {
  if (c.kind === 'bearer') return { kind: 'bearer', token: c.token ?? secret(c.tokenFile!, 'province.auth.tokenFile') };
  if (c.kind === 'hmac') {
    return {
      kind: 'hmac',
      keyId: c.keyId,
      secret: c.secret ?? secret(c.secretFile!, 'province.auth.secretFile'),
      headers: { ...DEFAULT_HMAC_HEADERS, ...Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, v.toLowerCase()])) },
      encoding: c.encoding,
    };
  }
  return { kind: 'none' };
}

export interface CreateForwarderOptions {
  config: ProvinceConfig;
  db: Db;
  hall: string;
  log: Logger;
  metrics: Metrics;
  /** What the configuration's files hold, read and checked before the hub started (loadForwarderFiles). */
  files?: ForwarderFiles;
  /** Which queue rows it sends (default: the province's); the hand-off destination has its own forwarder. */
  destination?: Destination;
  /** Whether devices' records pile up at ingest (Ingest.backlogged): the forwarder gives way. */
  ingestBacklogged?: () => boolean;
}

/** The contents of the files the province configuration names, read and checked. */
export interface ForwarderFiles {
  profile: Profile;
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  auth: RequestAuth;
  mqttPassword: string | undefined;
}

/** Reads and checks every file the province configuration names; a ForwarderConfigError says what is wrong. */
export function loadForwarderFiles(c: ProvinceConfig): ForwarderFiles {
  let profile;
  try {
    profile = loadProfile(c.profile);
  } catch (e) {
    if (e instanceof ProfileError) throw new ForwarderConfigError(e.message);
    throw e;
  }
  for (const f of requiredContext(profile)) {
    if (f === 'areaCode' && !c.areaCode)
      throw new ForwarderConfigError(
        `province profile ${profile.name} sends areaCode: set province.areaCode (行政区划代码) in the hub configuration`,
      );
    if (f === 'deptCode' && !c.deptCode)
      throw new ForwarderConfigError(
        `province profile ${profile.name} sends deptCode: set province.deptCode (部门编码) in the hub configuration`,
      );
  }
  return {
    profile,
    ca: c.caFile ? read(c.caFile, 'province.caFile') : undefined,
    cert: c.certFile ? read(c.certFile, 'province.certFile') : undefined,
    key: c.keyFile ? read(c.keyFile, 'province.keyFile') : undefined,
    auth: requestAuth(c.auth),
    mqttPassword: c.mqtt?.passwordFile ? secret(c.mqtt.passwordFile, 'province.mqtt.passwordFile') : undefined,
  };
}

export function createForwarder(o: CreateForwarderOptions): Forwarder {
  const c = o.config;
  const { profile, ca, cert, key, auth, mqttPassword } = o.files ?? loadForwarderFiles(c);
  const log = o.log;
  let transport: Transport;
  if (c.transport === 'mqtt') {
    const m = c.mqtt!;
    const fill = (t: string) => t.replaceAll('{hall}', o.hall);
    transport = new MqttTransport({
      urls: m.urls,
      topic: fill(m.topic),
      topics: Object.fromEntries(Object.entries(m.topics).map(([k, t]) => [k, fill(t)])),
      replyTopic: m.replyTopic === null ? null : fill(m.replyTopic),
      profile,
      timeoutMs: c.timeoutMs,
      clientId: m.clientId ?? `hcp-hub-${o.hall}`.slice(0, 64),
      username: m.username,
      password: mqttPassword,
      ca,
      cert,
      key,
      log: log.child({ transport: 'mqtt' }),
    });
  } else {
    transport = new HttpTransport({
      url: c.url!,
      endpoints: c.endpoints,
      profile,
      timeoutMs: c.timeoutMs,
      connectTimeoutMs: c.connectTimeoutMs,
      ca,
      cert,
      key,
      auth,
      headers: c.headers,
    });
  }
  log.info(
    {
      destination: o.destination ?? 'province',
      transport: transport.kind,
      target: transport.target,
      profile: profile.name,
      batchSize: c.batchSize,
    },
    'forwarding to the province',
  );
  return new Forwarder({
    db: o.db,
    transport,
    profile,
    context: { areaCode: c.areaCode, deptCode: c.deptCode, deptCodeByWindow: c.deptCodeByWindow },
    log,
    metrics: o.metrics,
    batchSize: c.batchSize,
    lingerMs: c.lingerMs,
    retry: c.retry,
    destination: o.destination,
    ...(o.ingestBacklogged ? { ingestBacklogged: o.ingestBacklogged } : {}),
  });
}
