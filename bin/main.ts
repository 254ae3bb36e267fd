/**
 * One command, four roles: `haochaping hub | device | province | sim`, plus `schema`.
 * Each subcommand validates its options, starts its composition root, and shuts down
 * cleanly on SIGTERM/SIGINT.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { MESSAGE_SCHEMAS } from '../protocol/index.js';
import { Agent, FIRMWARE_VERSION } from '../device/agent.js';
import { KeyboardButtons } from '../device/buttons/keyboard.js';
import { VirtualButtons } from '../device/buttons/virtual.js';
import { TerminalDisplay } from '../device/display/terminal.js';
import { VirtualDisplay } from '../device/display/virtual.js';
import { enrol } from '../device/enrolment/enrolment.js';
import { startHub } from '../hub/hub.js';
import { addUserCommands } from '../hub/users/cli.js';
import { startProvince } from '../simulator/province/province.js';
import { formatAccount, runSim } from '../simulator/sim.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
  return n;
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got "${v}"`);
  return n;
};

function logger(level: string, dest = 1): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest, sync: true }));
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0. */
function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let once = false;
  const handler = (sig: string) => {
    if (once) return;
    once = true;
    log.info({ signal: sig }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

const program = new Command('haochaping').description('好差评 counter evaluators: hub, device agent, stand-in province and simulator').version(FIRMWARE_VERSION);

const hubCommand = program
  .command('hub')
  .description('run the hall hub: MQTT broker, ingest, forwarder to the province, HTTP API')
  .option('--data <dir>', 'data directory (database, tokens)', '/var/lib/haochaping/hub')
  .option('--hall <id>', 'this hall\'s id', 'hall-1')
  .option('--host <addr>', 'address to listen on (MQTT and HTTP)', '0.0.0.0')
  .option('--mqtt-port <port>', 'plain MQTT port (0: any free port)', int('--mqtt-port'), 1883)
  .option('--no-mqtt-plain', 'do not listen on plain MQTT (TLS only)')
  .option('--mqtts-port <port>', 'MQTT over TLS port', int('--mqtts-port'), 8883)
  .option('--tls-key <file>', 'TLS private key (PEM); with --tls-cert enables MQTT over TLS')
  .option('--tls-cert <file>', 'TLS certificate chain (PEM)')
  .option('--tls-ca <file>', 'hall CA certificate given to devices at enrolment (PEM)')
  .option('--http-port <port>', 'HTTP API and web page port', int('--http-port'), 8080)
  .option('--province-url <url>', 'where to forward ratings (e.g. http://127.0.0.1:8090/api/evaluations)')
  .option('--policy <name|file>', '差评 deadlines: hubei, ankang, jilin, or a JSON policy file', 'ankang')
  .option('--working-days <file>', 'working-day override file (JSON: workdays, holidays, years)')
  .option('--log-level <level>', 'pino log level', 'info')
  .action(async (o) => {
    const log = logger(o.logLevel);
    const hub = await startHub(
      {
        dataDir: resolve(o.data),
        hall: o.hall,
        mqtt: {
          host: o.host,
          port: o.mqttPlain ? o.mqttPort : null,
          tls: o.tlsKey && o.tlsCert ? { port: o.mqttsPort, keyFile: o.tlsKey, certFile: o.tlsCert, caFile: o.tlsCa } : null,
        },
        http: { host: o.host, port: o.httpPort },
        province: o.provinceUrl ? { url: o.provinceUrl } : null,
        web: { policy: o.policy, calendarFile: o.workingDays ?? null },
      },
      log,
    ).catch((e: unknown) => {
      if (e instanceof z.ZodError) {
        log.fatal(`invalid hub configuration:\n${z.prettifyError(e)}`);
        process.exit(2);
      }
      throw e;
    });
    onShutdown(log, () => hub.close());
  });
addUserCommands(hubCommand);

const device = program.command('device').description('the evaluator agent');
device
  .command('enrol')
  .description('enrol this device with a hub using the one-time token from hall IT')
  .requiredOption('--data <dir>', 'device data directory')
  .requiredOption('--hub <url>', 'the hub\'s HTTP address, e.g. http://hub.hall.local:8080')
  .requiredOption('--token <token>', 'one-time enrolment token')
  .action(async (o) => {
    mkdirSync(o.data, { recursive: true });
    const { enrolment } = await enrol(resolve(o.data), o.hub, o.token, FIRMWARE_VERSION);
    console.log(`enrolled as ${enrolment.device} at window ${enrolment.window} of hall ${enrolment.hall}; broker ${enrolment.mqttUrl}`);
  });
device
  .command('run')
  .description('run the agent')
  .requiredOption('--data <dir>', 'device data directory')
  .addOption(new Option('--buttons <driver>', 'button driver').choices(['keyboard', 'virtual']).default('keyboard'))
  .addOption(new Option('--display <driver>', 'display driver').choices(['terminal', 'virtual']).default('terminal'))
  .option('--clock-synced', 'trust the wall clock (NTP synced)', false)
  .option('--log-level <level>', 'pino log level', 'info')
  .action(async (o) => {
    const log = logger(o.logLevel, 2);
    const buttons = o.buttons === 'keyboard' ? new KeyboardButtons(5) : new VirtualButtons(5);
    const display = o.display === 'terminal' ? new TerminalDisplay() : new VirtualDisplay();
    const agent = new Agent({ dataDir: resolve(o.data), buttons, display, log, clockSynced: () => o.clockSynced });
    await agent.start();
    onShutdown(log, () => agent.stop());
  });

program
  .command('province')
  .description('run the stand-in provincial 好差评 platform')
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'HTTP port', int('--port'), 8090)
  .option('--db <file>', 'SQLite file to keep accepted evaluations in', ':memory:')
  .option('--log-level <level>', 'pino log level', 'info')
  .action(async (o) => {
    const log = logger(o.logLevel);
    const p = await startProvince({ host: o.host, port: o.port, dbPath: o.db, log });
    onShutdown(log, () => p.close());
  });

program
  .command('sim')
  .description('run a whole hall on this machine: hub, stand-in province and simulated evaluators')
  .option('--devices <n>', 'number of evaluators', int('--devices'), 3)
  .option('--duration <seconds>', 'seconds of pressing (default: until Ctrl-C)', positive('--duration'))
  .option('--interval <seconds>', 'mean seconds between citizens at one window', positive('--interval'), 2)
  .option('--data <dir>', 'keep data and logs here (default: a temporary directory, removed at the end)')
  .option('--keep', 'keep the temporary directory', false)
  .option('--json', 'end with the account as one JSON line on stdout', false)
  .action(async (o) => {
    const account = await runSim({ devices: o.devices, durationS: o.duration ?? null, meanIntervalS: o.interval, dataDir: o.data ? resolve(o.data) : undefined, keep: o.keep });
    process.stderr.write(formatAccount(account) + '\n');
    if (o.json) process.stdout.write(JSON.stringify(account) + '\n');
    process.exit(account.lost === 0 && account.duplicated === 0 && account.drained ? 0 : 1);
  });

program
  .command('schema')
  .description('write the JSON Schema of every message for integrators')
  .option('--out <dir>', 'output directory', 'schema')
  .action((o) => {
    mkdirSync(o.out, { recursive: true });
    for (const [kind, schema] of Object.entries(MESSAGE_SCHEMAS)) {
      const file = join(o.out, `${kind}.schema.json`);
      writeFileSync(file, JSON.stringify(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), null, 2) + '\n');
      console.log(`wrote ${file}`);
    }
  });

await program.parseAsync();
