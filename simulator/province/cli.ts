/** The options of `haochaping province` (the stand-in), and what they become. */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { share, wholeNumber } from '../../common/cli-options.js';
import { DEFAULT_HMAC_HEADERS, type RequestAuth } from '../../hub/forwarder/auth.js';
import { parseRejectRule, type FaultsInput, type RejectRule } from './faults.js';
import type { ProvinceOptions } from './province.js';

const ms = (name: string) => wholeNumber(name, 'whole milliseconds');
const rule = (v: string, prev: RejectRule[] = []) => {
  try {
    return [...prev, parseRejectRule(v)];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

export function addStandInOptions(cmd: Command): Command {
  return cmd
    .option('--profile <name|file>', 'the province format to speak: native, common, or a profile file', 'native')
    .option('--token-file <file>', 'require this bearer token')
    .option('--hmac-secret-file <file>', 'require HMAC-SHA256 signatures with this secret')
    .option('--hmac-key-id <id>', 'the key id HMAC signatures must name')
    .option('--tls-key <file>', 'serve HTTPS with this key (PEM)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--mqtt-url <url>', 'also take batches from this MQTT broker')
    .option('--mqtt-topic <topic>', 'topic to take batches from (answers go to …/results)', 'hcp/province/v1/+/evaluations')
    .option('--unavailable', 'answer every request 503 (down for maintenance)', false)
    .option('--fail-500 <ratio>', 'share of requests answered 500', share('--fail-500'), 0)
    .option('--fail-timeout <ratio>', 'share of requests never answered', share('--fail-timeout'), 0)
    .option('--slow <ratio>', 'share of requests stored, then answered after --slow-ms', share('--slow'), 0)
    .option('--slow-ms <ms>', 'delay of a slow answer', ms('--slow-ms'), 2000)
    .option('--drop <ratio>', 'share of requests stored, then the connection dropped without an answer', share('--drop'), 0)
    .option('--throttle <ratio>', 'share of requests answered 429 with Retry-After', share('--throttle'), 0)
    .option('--retry-after <s>', 'Retry-After seconds for 429/503', ms('--retry-after'), 1)
    .option('--reject <field=pattern[=reason]>', 'refuse evaluations whose field matches (repeatable)', rule);
}

export function standInOptionsFrom(o: Record<string, unknown>): Omit<ProvinceOptions, 'log'> {
  const read = (f: unknown) => readFileSync(String(f), 'utf8');
  let auth: RequestAuth = { kind: 'none' };
  if (o.tokenFile) auth = { kind: 'bearer', token: read(o.tokenFile).trim() };
  if (o.hmacSecretFile)
    auth = {
      kind: 'hmac',
      secret: read(o.hmacSecretFile).trim(),
      keyId: (o.hmacKeyId as string) ?? null,
      headers: DEFAULT_HMAC_HEADERS,
      encoding: 'hex',
    };
  const faults: FaultsInput = {
    unavailable: !!o.unavailable,
    error500: o.fail500 as number,
    timeout: o.failTimeout as number,
    slow: o.slow as number,
    slowMs: o.slowMs as number,
    drop: o.drop as number,
    throttle: o.throttle as number,
    retryAfterS: o.retryAfter as number,
    rejectRules: (o.reject as RejectRule[] | undefined) ?? [],
  };
  return {
    profile: o.profile as string,
    auth,
    faults,
    tls: o.tlsKey && o.tlsCert ? { key: read(o.tlsKey), cert: read(o.tlsCert) } : undefined,
    mqtt: o.mqttUrl ? { url: o.mqttUrl as string, topic: o.mqttTopic as string } : undefined,
  };
}
