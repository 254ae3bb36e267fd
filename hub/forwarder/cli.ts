/**
 * The command line around forwarding: the province options of `haochaping hub`, and
 * `haochaping forwarding …` for hall IT on the hub server — backlog, the evaluations the
 * province refused and why, and re-pushing them. The forwarding commands work on the hub's
 * database directly (SQLite WAL allows it while the hub runs; the hub picks re-pushed rows up
 * within a second), so they need no API token, only access to the data directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { wholeNumber } from '../../common/cli-options.js';
import { parseYaml } from '../util/yaml.js';
import { ConfigError } from '../../common/config-error.js';
import { openHubDb } from '../store/db.js';
import type { HandoffConfigInput, ProvinceConfigInput } from './config.js';
import { forwardingCounts, listRejected, queuedEvaluation, repush, type RejectedEntry } from './queue.js';

/** Adds the province options to the `hub` command. */
export function addProvinceOptions(cmd: Command): Command {
  return cmd
    .option('--province-url <url>', 'forward over HTTP(S) to this URL (e.g. https://hcp.example.gov.cn/api/evaluations)')
    .option('--province-config <file>', 'the province section as a JSON or YAML file (flags below override it)')
    .option('--province-profile <name|file>', 'province profile: native, common, or a .json/.yaml profile file')
    .option('--province-area-code <code>', '行政区划代码 sent with every evaluation')
    .option('--province-dept-code <code>', '部门编码 sent with every evaluation')
    .option('--province-batch-size <n>', 'evaluations per push', wholeNumber('--province-batch-size'))
    .option('--province-linger-ms <ms>', 'wait this long to fill a batch', wholeNumber('--province-linger-ms'))
    .option('--province-timeout-ms <ms>', 'give up on a push after this long', wholeNumber('--province-timeout-ms'))
    .option('--province-retry-max-ms <ms>', 'longest wait between retries', wholeNumber('--province-retry-max-ms'))
    .option('--province-ca <file>', 'CA bundle (PEM) to trust for the province')
    .option('--province-token-file <file>', 'bearer token for the province, read from this file')
    .option('--province-hmac-secret-file <file>', 'sign each push with HMAC-SHA256 using the secret in this file')
    .option('--province-hmac-key-id <id>', 'key id sent with HMAC signatures')
    .option('--province-mqtt <urls>', 'forward over MQTT instead: comma-separated broker URLs (mqtt[s]://host:port)')
    .option('--province-mqtt-topic <topic>', 'MQTT topic for batches ({hall} is replaced)')
    .option(
      '--province-mqtt-reply-topic <topic>',
      'MQTT topic the province answers on, or "none" to count the broker\'s PUBACK as accepted',
    )
    .option(
      '--handoff-config <file>',
      'where 差评 the hall cannot resolve are handed on (12345, a department): a JSON or YAML file like --province-config, plus "name"',
    );
}

/** The hub's `handoff` configuration from --handoff-config: `name` and the destination's keys (as in a province file). */
export function handoffConfigFromOptions(o: Record<string, unknown>): HandoffConfigInput | null {
  if (typeof o.handoffConfig !== 'string') return null;
  const { name, ...destination } = readConfigFile('--handoff-config', o.handoffConfig);
  return { name: name as string, destination: destination as ProvinceConfigInput };
}

/** A JSON or YAML file holding one mapping; anything else is a ConfigError naming the flag and the file. */
function readConfigFile(flag: string, path: string): Record<string, unknown> {
  const file = resolve(path);
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    // YAML's message carries a code frame; the first line says what and where.
    throw new ConfigError(`${flag} ${file}: ${(e as Error).message.split('\n')[0]!.replace(/:$/, '')}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${flag} ${file}: must hold a mapping (key: value lines)`);
  return raw as Record<string, unknown>;
}

/** The hub's `province` configuration from the options above; null when none is given. */
export function provinceConfigFromOptions(o: Record<string, unknown>): ProvinceConfigInput | null {
  let base: Record<string, unknown> = {};
  if (typeof o.provinceConfig === 'string') base = readConfigFile('--province-config', o.provinceConfig);
  const c: Record<string, unknown> = { ...base };
  const set = (k: string, v: unknown) => {
    if (v !== undefined) c[k] = v;
  };
  set('url', o.provinceUrl);
  set('profile', o.provinceProfile);
  set('areaCode', o.provinceAreaCode);
  set('deptCode', o.provinceDeptCode);
  set('batchSize', o.provinceBatchSize);
  set('lingerMs', o.provinceLingerMs);
  set('timeoutMs', o.provinceTimeoutMs);
  set('caFile', o.provinceCa);
  if (o.provinceRetryMaxMs !== undefined) {
    const max = o.provinceRetryMaxMs as number;
    c.retry = { ...(c.retry as object), maxMs: max, baseMs: Math.min(max, (c.retry as { baseMs?: number } | undefined)?.baseMs ?? 500) };
  }
  if (o.provinceTokenFile) c.auth = { kind: 'bearer', tokenFile: o.provinceTokenFile };
  if (o.provinceHmacSecretFile) c.auth = { kind: 'hmac', secretFile: o.provinceHmacSecretFile, keyId: o.provinceHmacKeyId ?? null };
  if (o.provinceMqtt) {
    c.transport = 'mqtt';
    c.mqtt = {
      ...(c.mqtt as object),
      urls: String(o.provinceMqtt)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      ...(o.provinceMqttTopic ? { topic: o.provinceMqttTopic } : {}),
      ...(o.provinceMqttReplyTopic ? { replyTopic: o.provinceMqttReplyTopic === 'none' ? null : o.provinceMqttReplyTopic } : {}),
    };
  }
  return Object.keys(c).length === 0 ? null : (c as ProvinceConfigInput);
}

function openDb(dataDir: string) {
  const file = join(resolve(dataDir), 'hub.db');
  if (!existsSync(file)) {
    process.stderr.write(`没有找到 hub 数据库 (no hub database at ${file}); pass --data <the hub's data directory>\n`);
    process.exit(2);
  }
  return openHubDb(file);
}

const time = (ms: number | null) => (ms === null ? '—' : new Date(ms + 8 * 3600_000).toISOString().replace('T', ' ').slice(0, 19));
const LEVEL_ZH: Record<number, string> = { 5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意' };

function printRejected(list: RejectedEntry[]): void {
  if (list.length === 0) return void console.log('没有被省平台拒收的评价 (no evaluations rejected by the province)');
  console.log(`被省平台拒收的评价 (rejected by the province): ${list.length}`);
  for (const r of list) {
    const s = r.summary;
    console.log(
      `${r.id}  ${r.kind}  窗口 window ${s.window}  ${LEVEL_ZH[s.level] ?? s.level}  办件 cases ${s.cases.join(',') || '—'}  拒收于 rejected ${time(r.rejectedAt)} (UTC+8)  重推 re-pushed ${r.repushCount}×\n    原因 reason: ${r.reason ?? '—'}`,
    );
  }
}

/** `haochaping forwarding …` */
export function forwardingCommand(): Command {
  const cmd = new Command('forwarding').description(
    'forwarding to the province: backlog, rejected evaluations, re-push (works on the hub database)',
  );
  const data = (c: Command) => c.option('--data <dir>', "the hub's data directory", '/var/lib/haochaping/hub');

  data(cmd.command('status').description('backlog, forwarded and rejected counts'))
    .option('--json', 'print JSON', false)
    .action((o) => {
      const db = openDb(o.data);
      const c = forwardingCounts(db);
      db.close();
      if (o.json) return void console.log(JSON.stringify(c));
      console.log(
        `待推送 backlog: ${c.backlog.count}  最早入队 oldest: ${time(c.backlog.oldestEnqueuedAt)} UTC+8 (${c.backlog.oldestAgeS ?? 0} s ago)`,
      );
      console.log(`已推送 forwarded: ${c.done}  最近 last: ${time(c.lastForwardedAt)} UTC+8`);
      console.log(`被拒收 rejected: ${c.rejected}`);
    });

  data(cmd.command('rejected').description('list the evaluations the province refused, newest first, with its reason'))
    .option('--limit <n>', 'at most this many', wholeNumber('--limit'), 100)
    .option('--json', 'print JSON', false)
    .action((o) => {
      const db = openDb(o.data);
      const list = listRejected(db, { limit: o.limit });
      db.close();
      if (o.json) console.log(JSON.stringify(list));
      else printRejected(list);
    });

  data(cmd.command('show <id>').description("one queued evaluation: state, the province's reply, the evaluation")).action(
    (id: string, o) => {
      const db = openDb(o.data);
      const q = queuedEvaluation(db, id);
      db.close();
      if (!q) {
        process.stderr.write(`队列中没有 ${id} (no evaluation ${id} in the forward queue)\n`);
        process.exit(1);
      }
      console.log(JSON.stringify(q, null, 2));
    },
  );

  data(cmd.command('repush').description('send rejected evaluations again (after the province or the profile was fixed)'))
    .option('--id <ids...>', 'the evaluation ids to re-push')
    .option('--all', 'every rejected evaluation', false)
    .action((o) => {
      if (!o.all && !o.id?.length) {
        process.stderr.write('请给出 --id <id…> 或 --all (give --id <id…> or --all)\n');
        process.exit(2);
      }
      const db = openDb(o.data);
      const done = repush(db, o.all ? 'all' : (o.id as string[]), `cli:${process.env.SUDO_USER ?? process.env.USER ?? 'unknown'}`);
      db.close();
      console.log(`已重新排队 re-queued: ${done.length}${done.length ? `\n${done.join('\n')}` : ''}`);
      if (!o.all && done.length < (o.id as string[]).length) {
        const missing = (o.id as string[]).filter((i) => !done.includes(i));
        process.stderr.write(`不是被拒收状态，未处理 (not in the rejected state, left alone): ${missing.join(', ')}\n`);
        process.exit(1);
      }
    });
  return cmd;
}
