/** `haochaping hub …` and `haochaping forwarding …`: the hall hub and its maintenance commands. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../common/config-error.js';
import { addBackupCommands } from '../../hub/backup/cli.js';
import { registerHubCommands } from '../../hub/cli/commands.js';
import { addProvinceOptions, forwardingCommand, handoffConfigFromOptions, provinceConfigFromOptions } from '../../hub/forwarder/cli.js';
import { startHub } from '../../hub/hub.js';
import { addLedgerCommands } from '../../hub/ledger/cli.js';
import { addReleaseCommands } from '../../hub/releases/cli.js';
import { addUserCommands } from '../../hub/users/cli.js';
import { configErrorExit, int, logger, onShutdown } from './shared.js';

export function register(program: Command): void {
  const hubCommand = program
    .command('hub')
    .description('run the hall hub: MQTT broker, ingest, forwarder to the province, HTTP API (or manage it: device, token, tls)')
    .option('--data <dir>', 'data directory (database, tokens)', '/var/lib/haochaping/hub')
    .option('--hall <id>', "this hall's id", 'hall-1')
    .option('--host <addr>', 'address to listen on (MQTT and HTTP)', '0.0.0.0')
    .option(
      '--mqtt-port <port>',
      'plain (unencrypted) MQTT port (0: any free port); with TLS configured, plain MQTT runs only if this is given',
      int('--mqtt-port'),
      1883,
    )
    .option('--no-mqtt-plain', 'never listen on plain MQTT')
    .option('--mqtts-port <port>', 'MQTT over TLS port', int('--mqtts-port'), 8883)
    .option('--tls-key <file>', 'TLS private key (PEM); with --tls-cert enables MQTT over TLS')
    .option('--tls-cert <file>', 'TLS certificate chain (PEM)')
    .option('--tls-ca <file>', 'hall CA certificate given to devices at enrolment (PEM)')
    .option(
      '--http-port <port>',
      'HTTP API and web page port (HTTPS with the --tls-cert certificate when TLS is configured)',
      int('--http-port'),
      8080,
    )
    .option(
      '--plain-http',
      'serve the API and web page over plain HTTP even with TLS configured (a TLS reverse proxy in front; listen on 127.0.0.1)',
      false,
    )
    .option(
      '--trust-proxy <addrs>',
      'comma-separated addresses/CIDRs of TLS reverse proxies whose X-Forwarded-For/-Proto are believed (client IP, Secure cookies)',
      (v) =>
        v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      [],
    )
    .option('--default-days <n>', 'an unrated session counts as 基本满意 after this many days', int('--default-days'), 7)
    .option('--working-days', 'count --default-days as working days (official holiday calendar, 调休 included)', false)
    .option(
      '--holiday-file <file>',
      'JSON {"holidays": [...], "workdays": [...], "years": [...]} overriding the official calendar (7-day defaults and 差评 deadlines)',
    )
    .option('--policy <name|file>', '差评 deadlines: hubei, ankang, jilin, or a JSON policy file', 'ankang')
    .option(
      '--verify-workers <n>',
      'worker threads checking record signatures (default: one per core but one, 1–4; 0: on the main thread)',
      int('--verify-workers'),
    )
    .option('--log-level <level>', 'pino log level', 'info');
  addProvinceOptions(hubCommand).action(async (o, cmd: Command) => {
    const log = logger(o.logLevel);
    let hub: Awaited<ReturnType<typeof startHub>>;
    try {
      if (!!o.tlsKey !== !!o.tlsCert)
        throw new ConfigError('--tls-key and --tls-cert go together (make both with "haochaping hub tls init")');
      const tlsOn = !!o.tlsKey;
      // Plain MQTT only when configured: asked for with --mqtt-port, or the demo without TLS.
      const plainPort: number | null = o.mqttPlain && (cmd.getOptionValueSource('mqttPort') === 'cli' || !tlsOn) ? o.mqttPort : null;
      if (plainPort === null && !tlsOn) throw new ConfigError('no MQTT listener: give --tls-key/--tls-cert, or allow plain MQTT');
      hub = await startHub(
        {
          dataDir: resolve(o.data),
          hall: o.hall,
          mqtt: {
            host: o.host,
            port: plainPort,
            tls: tlsOn ? { port: o.mqttsPort, keyFile: o.tlsKey, certFile: o.tlsCert, caFile: o.tlsCa } : null,
          },
          http: { host: o.host, port: o.httpPort, plain: o.plainHttp, trustProxy: o.trustProxy },
          province: provinceConfigFromOptions(o),
          handoff: handoffConfigFromOptions(o),
          holidayFile: o.holidayFile ? resolve(o.holidayFile) : null,
          defaults: { unit: o.workingDays ? 'working-days' : 'calendar-days', count: o.defaultDays },
          web: { policy: o.policy },
          ...(o.verifyWorkers === undefined ? {} : { ingest: { verifyWorkers: o.verifyWorkers } }),
        },
        log,
      );
      if (plainPort !== null)
        log.warn(
          { port: plainPort },
          'plain MQTT (no TLS): device secrets and ratings cross the network readable; for a demo on one machine, not for a hall (see "haochaping hub tls init")',
        );
    } catch (e) {
      configErrorExit('hub', e);
      throw e;
    }
    onShutdown(log, () => hub.close());
  });
  // `hub device add --data …`: options after a subcommand belong to it, not to `hub` itself.
  hubCommand.enablePositionalOptions();
  registerHubCommands(hubCommand);
  addLedgerCommands(hubCommand, program);
  addUserCommands(hubCommand);
  addBackupCommands(hubCommand);
  addReleaseCommands(hubCommand);

  program.addCommand(forwardingCommand());
}
