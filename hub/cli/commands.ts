/**
 * `haochaping hub device add|list|revoke|reenrol|set`, `hub token create|list|revoke` and
 * `hub tls init`: what hall IT types on the hub server. Output is zh-CN first with the English
 * beside it; `--json` gives one JSON document for scripts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { ROLES } from '../api/tokens.js';
import type { DeviceHealth } from '../status/device-status.js';
import { HubApi, HubApiError, resolveHubUrl, type HubTarget } from './api-client.js';
import { registerHallCommands } from './hall-commands.js';
import { registerVoiceCommands } from '../voice/cli.js';
import { registerWindowCommands } from '../citizen/cli.js';

interface DeviceSummary {
  id: string;
  window: string;
  name: string | null;
  enrolled: boolean;
  revoked: boolean;
  keyEpoch: number;
  lastSeq: number;
  configVersion: number;
}

const DEFAULT_DATA = '/var/lib/haochaping/hub';

export function target(cmd: Command): Command {
  return cmd
    .option('--hub <url>', "the running hub's address (default: the one it wrote to <data>/hub.url, else http://127.0.0.1:8080)")
    .option('--data <dir>', 'hub data directory (for its admin.token)', DEFAULT_DATA)
    .option('--token <token>', 'admin API token (default: $HCP_API_TOKEN or <data>/admin.token)')
    .option('--ca <file>', 'hall CA to check an https:// hub with (default: <data>/tls/ca.crt if there, else the system CAs)')
    .option('--json', 'print one JSON document', false);
}

export function api(o: HubTarget): HubApi {
  return new HubApi({ hub: o.hub, data: resolve(o.data), token: o.token, ca: o.ca });
}

/**
 * The text a phone or scanner reads from the QR code: the command to run on the device. With
 * the hall CA's fingerprint in it, the device pins that CA from the QR, not from the network.
 */
export function enrolCommand(hubUrl: string, token: string, caFingerprint: string | null = null): string {
  return `haochaping device enrol --hub ${hubUrl} --token ${token}${caFingerprint ? ` --ca-sha256 ${caFingerprint}` : ''}`;
}

async function printToken(
  device: DeviceSummary,
  token: string,
  caFingerprint: string | null,
  o: HubTarget & { publicUrl?: string; json: boolean },
  what: string,
): Promise<void> {
  const hubUrl = o.publicUrl ?? resolveHubUrl({ ...o, data: resolve(o.data) });
  const line = enrolCommand(hubUrl, token, caFingerprint);
  if (o.json) return void console.log(JSON.stringify({ device, token, caFingerprint, enrolCommand: line }));
  // Loaded here: the hub server registers these commands too and never draws a terminal QR.
  const { default: QRCode } = await import('qrcode');
  const qr = await QRCode.toString(line, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
  console.log(`${what}: ${device.id}（窗口 window ${device.window}${device.name ? `，${device.name}` : ''}）`);
  console.log(`一次性登记令牌 one-time enrolment token (7 天有效 valid 7 days, shown only now):\n  ${token}`);
  console.log(`在设备上运行 on the device run:\n  ${line} --data /var/lib/haochaping/device`);
  console.log(qr);
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

export function run(action: (...args: never[]) => Promise<void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    try {
      await action(...(args as never[]));
    } catch (e) {
      if (e instanceof HubApiError || (e as Error).name === 'ZodError') {
        console.error(`错误 error: ${(e as Error).message}`);
        process.exit(e instanceof HubApiError && e.status === 404 ? 3 : 1);
      }
      throw e;
    }
  };
}

export function registerHubCommands(hub: Command): void {
  registerHallCommands(hub);
  registerVoiceCommands(hub);
  registerWindowCommands(hub);
  const device = hub.command('device').description("the hall's evaluators: add, list, revoke, re-enrol, change settings");

  target(device.command('add'))
    .description('register a device for a window; prints its one-time enrolment token and a QR code')
    .requiredOption('--window <window>', 'window (counter) number, e.g. 12')
    .option('--name <name>', 'a name hall staff recognise, e.g. "12号窗口 不动产"')
    .option('--id <id>', 'device id (default: the next free ev-NNN)')
    .addOption(
      new Option('--mode <mode>', 'session: rate what the queue system opens; walk-up: always ready').choices(['session', 'walk-up']),
    )
    .option('--public-url <url>', 'the hub address devices use (put in the QR code); default: --hub')
    .action(
      run(
        async (
          o: HubTarget & { window: string; name?: string; id?: string; mode?: 'session' | 'walk-up'; publicUrl?: string; json: boolean },
        ) => {
          const r = await api(o).call<{ device: DeviceSummary; token: string; caFingerprint?: string | null }>('POST', '/api/devices', {
            window: o.window,
            name: o.name,
            id: o.id,
            settings: o.mode ? { mode: o.mode } : undefined,
          });
          await printToken(r.device, r.token, r.caFingerprint ?? null, o, '设备已登记 device registered');
        },
      ),
    );

  target(device.command('list'))
    .description('list devices with their health')
    .action(
      run(async (o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ devices: (DeviceSummary & { health: DeviceHealth })[] }>('GET', '/api/devices');
        if (o.json) return void console.log(JSON.stringify(r));
        const rows = r.devices.map((d) => [
          d.id,
          d.window,
          d.revoked ? '已吊销 revoked' : !d.enrolled ? '待登记 awaiting enrolment' : d.health.online ? '在线 online' : '离线 offline',
          when(d.health.lastSeen),
          d.health.firmware ?? '-',
          d.health.backlog ? String(d.health.backlog.depth) : '-',
          d.health.clock
            ? d.health.clock.ok
              ? 'ok'
              : `off ${d.health.clock.offsetMs ?? '?'}ms${d.health.clock.synced ? '' : ' unsynced'}`
            : '-',
          d.health.faults.join(',') || '-',
          d.name ?? '',
        ]);
        const head = [
          '设备 device',
          '窗口 window',
          '状态 state',
          '最后联系 last seen (UTC)',
          '固件 firmware',
          '积压 backlog',
          '时钟 clock',
          '故障 faults',
          '名称 name',
        ];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
        for (const row of [head, ...rows])
          console.log(
            row
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd(),
          );
      }),
    );

  target(device.command('revoke').argument('<id>', 'device id'))
    .description('revoke a device: disconnected now and refused from now on (re-enrol to use it again)')
    .action(
      run(async (id: string, o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ device: DeviceSummary }>('POST', `/api/devices/${encodeURIComponent(id)}/revoke`, {});
        console.log(o.json ? JSON.stringify(r) : `设备已吊销 device revoked: ${r.device.id}`);
      }),
    );

  target(device.command('reenrol').argument('<id>', 'device id'))
    .description(
      'give a device a new enrolment token and stop its old secret (leaked secret, replaced SD card, revoked device back in service); a new key starts a new chain',
    )
    .option('--public-url <url>', 'the hub address devices use (put in the QR code); default: --hub')
    .action(
      run(async (id: string, o: HubTarget & { publicUrl?: string; json: boolean }) => {
        const r = await api(o).call<{ device: DeviceSummary; token: string; caFingerprint?: string | null }>(
          'POST',
          `/api/devices/${encodeURIComponent(id)}/reenrol`,
          {},
        );
        await printToken(r.device, r.token, r.caFingerprint ?? null, o, '设备待重新登记 device awaiting re-enrolment');
      }),
    );

  target(device.command('set').argument('<id>', 'device id'))
    .description("change a device's window or settings; the new config is pushed to it")
    .option('--window <window>', 'move it to another window')
    .addOption(new Option('--mode <mode>', 'session or walk-up').choices(['session', 'walk-up']))
    .option('--buttons <levels>', 'button map, left to right, e.g. 5,4,3,2,1 or 5,3,1', (v) => {
      const levels = v.split(',').map(Number);
      if (!levels.every((n) => [1, 2, 3, 4, 5].includes(n)))
        throw new InvalidArgumentError('--buttons lists levels 1–5 separated by commas');
      return levels;
    })
    .option('--prompt-timeout <seconds>', 'seconds the prompt waits before it reports "not rated"', Number)
    .action(
      run(
        async (
          id: string,
          o: HubTarget & { window?: string; mode?: string; buttons?: number[]; promptTimeout?: number; json: boolean },
        ) => {
          const settings = {
            ...(o.mode ? { mode: o.mode } : {}),
            ...(o.buttons ? { buttons: o.buttons } : {}),
            ...(o.promptTimeout ? { timeouts: { promptS: o.promptTimeout } } : {}),
          };
          const r = await api(o).call<{ device: DeviceSummary; changed: boolean; config: { version: number } }>(
            'PATCH',
            `/api/devices/${encodeURIComponent(id)}`,
            { window: o.window, settings },
          );
          console.log(
            o.json
              ? JSON.stringify(r)
              : r.changed
                ? `配置已推送 config pushed: ${id} version ${r.config.version}`
                : `无变化 nothing changed: ${id}`,
          );
        },
      ),
    );

  const token = hub.command('token').description('API tokens for the queue/business system, hall IT and viewers');
  target(token.command('create'))
    .description('create an API token (printed once)')
    .requiredOption('--name <name>', 'who uses it, e.g. "queue system"')
    .addOption(new Option('--role <role>', 'what it may do').choices([...ROLES]).makeOptionMandatory())
    .action(
      run(async (o: HubTarget & { name: string; role: string; json: boolean }) => {
        const r = await api(o).call<{ name: string; role: string; token: string }>('POST', '/api/tokens', { name: o.name, role: o.role });
        console.log(o.json ? JSON.stringify(r) : `API 令牌 token for "${r.name}" (${r.role}), shown only now:\n${r.token}`);
      }),
    );
  target(token.command('list'))
    .description('list API tokens (names and roles only)')
    .action(
      run(async (o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ tokens: { name: string; role: string; createdAt: number; revokedAt: number | null }[] }>(
          'GET',
          '/api/tokens',
        );
        if (o.json) return void console.log(JSON.stringify(r));
        for (const t of r.tokens)
          console.log(`${t.name}\t${t.role}\t${when(t.createdAt)}${t.revokedAt ? `\t已吊销 revoked ${when(t.revokedAt)}` : ''}`);
      }),
    );
  target(token.command('revoke').argument('<name>', 'token name'))
    .description('revoke the tokens with this name')
    .action(
      run(async (name: string, o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ revoked: number }>('POST', `/api/tokens/${encodeURIComponent(name)}/revoke`, {});
        console.log(o.json ? JSON.stringify(r) : `已吊销 revoked ${r.revoked}`);
      }),
    );

  target(hub.command('alarms'))
    .description('alarms for hall IT (forged or forked records, missing records) and the open sequence gaps')
    .option('--all', 'include acknowledged alarms', false)
    .option('--ack <n>', 'acknowledge alarm n (hall IT has seen to it)', (v) => Number(v))
    .action(
      run(async (o: HubTarget & { all: boolean; ack?: number; json: boolean }) => {
        const a = api(o);
        if (o.ack !== undefined) {
          await a.call('POST', `/api/alarms/${o.ack}/acknowledge`, {});
          return void console.log(o.json ? JSON.stringify({ acknowledged: o.ack }) : `已确认 acknowledged: ${o.ack}`);
        }
        const alarms = await a.call<{
          alarms: { n: number; at: number; kind: string; device: string | null; message: string; acknowledgedAt: number | null }[];
        }>('GET', `/api/alarms${o.all ? '' : '?open=1'}`);
        const gaps = await a.call<{
          gaps: { device: string; epoch: number; from: number; to: number; missing: number; detectedAt: number }[];
        }>('GET', '/api/gaps');
        if (o.json) return void console.log(JSON.stringify({ ...alarms, ...gaps }));
        console.log(alarms.alarms.length ? '告警 alarms:' : '无未处理告警 no open alarms');
        for (const x of alarms.alarms)
          console.log(
            `  #${x.n}  ${when(x.at)}  ${x.kind}  ${x.device ?? '-'}  ${x.message}${x.acknowledgedAt ? `  (已确认 acknowledged ${when(x.acknowledgedAt)})` : ''}`,
          );
        console.log(gaps.gaps.length ? '缺失记录 missing records:' : '无缺失记录 no missing records');
        for (const g of gaps.gaps)
          console.log(`  ${g.device}  seq ${g.from}–${g.to} (${g.missing})  epoch ${g.epoch}  since ${when(g.detectedAt)}`);
      }),
    );

  const tls = hub.command('tls').description('TLS for MQTT and the HTTPS API, hall page and enrolment');
  tls
    .command('init')
    .description("make a hall CA and the hub's server certificate (for halls without their own PKI)")
    .option('--out <dir>', 'where to write ca.crt, ca.key, server.crt, server.key', join(DEFAULT_DATA, 'tls'))
    .option('--hall <id>', "this hall's id", 'hall-1')
    .requiredOption('--host <names...>', 'every host name and IP address devices use to reach the hub')
    .option('--days <n>', 'server certificate lifetime in days', (v) => Number(v), 3650)
    .option('--force', 'overwrite existing files', false)
    .action(async (o: { out: string; hall: string; host: string[]; days: number; force: boolean }) => {
      const out = resolve(o.out);
      const files = { caCert: 'ca.crt', caKey: 'ca.key', serverCert: 'server.crt', serverKey: 'server.key' } as const;
      if (!o.force && Object.values(files).some((f) => existsSync(join(out, f)))) {
        console.error(
          `错误 error: ${out} already holds certificates; --force replaces them (devices enrolled with the old CA must then be given the new one)`,
        );
        process.exit(1);
      }
      // Loaded only here: it brings a global polyfill the rest of the hub does not need.
      const { makeHallPki } = await import('../tls/hall-ca.js');
      const pki = await makeHallPki({ hall: o.hall, hosts: o.host, days: o.days });
      mkdirSync(out, { recursive: true, mode: 0o700 });
      writeFileAtomic(join(out, files.caCert), pki.caCert, 0o644);
      writeFileAtomic(join(out, files.caKey), pki.caKey, 0o600);
      writeFileAtomic(join(out, files.serverCert), pki.serverCert, 0o644);
      writeFileAtomic(join(out, files.serverKey), pki.serverKey, 0o600);
      console.log(
        `已生成 made: ${Object.values(files)
          .map((f) => join(out, f))
          .join(', ')}`,
      );
      console.log(
        `CA SHA-256 指纹 fingerprint: ${pki.caFingerprint}（登记二维码中带有 is carried in every enrolment QR code; devices pin it）`,
      );
      console.log(`ca.key 仅用于续期，请离线保存 is only needed to renew: keep it offline.`);
      console.log(
        `启动 start the hub with:\n  haochaping hub --tls-key ${join(out, files.serverKey)} --tls-cert ${join(out, files.serverCert)} --tls-ca ${join(out, files.caCert)} …`,
      );
    });
}
