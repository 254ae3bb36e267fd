import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { addProvinceOptions, provinceConfigFromOptions } from '../../hub/forwarder/cli.js';
import { ProvinceConfigSchema } from '../../hub/forwarder/config.js';
import { createForwarder, ForwarderConfigError } from '../../hub/forwarder/create.js';
import { createMetrics } from '../../hub/metrics.js';
import { silentLog } from '../helpers/log.js';
import { runCli, tempHubDb, type TempDb } from './helpers.js';

let t: TempDb | null = null;
afterEach(() => {
  t?.cleanup();
  t = null;
});

function hubFlags(argv: string[]): Record<string, unknown> {
  const cmd = addProvinceOptions(new Command('hub').exitOverride());
  cmd.parse(argv, { from: 'user' });
  return cmd.opts();
}

const problems = (input: unknown) => {
  const r = ProvinceConfigSchema.safeParse(input);
  return r.success ? '' : z.prettifyError(r.error);
};

describe('the province section of the hub configuration', () => {
  it('from flags: a province file, overridden by flags; secrets stay in files', () => {
    t = tempHubDb();
    const file = join(t.dir, 'province.yaml');
    writeFileSync(
      file,
      [
        'url: https://hcp.example.gov.cn/api/evaluations',
        'profile: common',
        'areaCode: "420100"',
        'deptCode: D1',
        'batchSize: 100',
        'retry:',
        '  baseMs: 1000',
        '',
      ].join('\n'),
    );
    const c = provinceConfigFromOptions(
      hubFlags([
        '--province-config',
        file,
        '--province-batch-size',
        '50',
        '--province-token-file',
        '/etc/hcp/token',
        '--province-retry-max-ms',
        '30000',
      ]),
    );
    expect(ProvinceConfigSchema.parse(c)).toMatchObject({
      transport: 'http',
      url: 'https://hcp.example.gov.cn/api/evaluations',
      profile: 'common',
      areaCode: '420100',
      batchSize: 50,
      retry: { baseMs: 1000, maxMs: 30_000 },
      auth: { kind: 'bearer', tokenFile: '/etc/hcp/token' },
    });
    expect(provinceConfigFromOptions(hubFlags([]))).toBeNull();
    expect(
      provinceConfigFromOptions(
        hubFlags(['--province-mqtt', 'mqtts://a.example:8883,mqtts://b.example:8883', '--province-mqtt-reply-topic', 'none']),
      ),
    ).toMatchObject({
      transport: 'mqtt',
      mqtt: { urls: ['mqtts://a.example:8883', 'mqtts://b.example:8883'], replyTopic: null },
    });
  });

  it('says what is missing in words hall IT can act on', () => {
    expect(problems({})).toMatch(/province\.url is required/);
    expect(problems({ transport: 'mqtt' })).toMatch(/province\.mqtt \(urls, topic\) is required/);
    expect(problems({ transport: 'mqtt', mqtt: { urls: ['http://x'] } })).toMatch(/mqtts:\/\/broker/);
    expect(problems({ url: 'not a url' })).toMatch(/province\.url must be a URL/);
    expect(problems({ url: 'https://x/y', auth: { kind: 'bearer' } })).toMatch(/exactly one of token or tokenFile/);
    expect(problems({ url: 'https://x/y', certFile: '/c.pem' })).toMatch(/go together/);
  });

  it('refuses to start on a profile or secret it cannot read', () => {
    t = tempHubDb();
    const make = (c: unknown) => () =>
      createForwarder({ config: ProvinceConfigSchema.parse(c), db: t!.db, hall: 'h', log: silentLog(), metrics: createMetrics() });
    expect(make({ url: 'https://x/y', profile: join(t.dir, 'missing.yaml') })).toThrow(ForwarderConfigError);
    expect(make({ url: 'https://x/y', auth: { kind: 'bearer', tokenFile: join(t.dir, 'nope') } })).toThrow(
      /cannot read province\.auth\.tokenFile/,
    );
    writeFileSync(join(t.dir, 'empty'), '\n');
    expect(make({ url: 'https://x/y', auth: { kind: 'hmac', secretFile: join(t.dir, 'empty') } })).toThrow(/is empty/);
  });

  it('`haochaping hub` exits with code 2 and says what to set when the profile needs an area code', async () => {
    t = tempHubDb();
    const r = await runCli([
      'hub',
      '--data',
      join(t.dir, 'hub'),
      '--host',
      '127.0.0.1',
      '--mqtt-port',
      '0',
      '--http-port',
      '0',
      '--province-url',
      'http://127.0.0.1:9/x',
      '--province-profile',
      'common',
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/set province\.areaCode/);
  });
});
