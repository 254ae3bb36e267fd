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
import { exitWithParent } from '../common/exit-with-parent.js';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, oneLine } from '../common/config-error.js';
import { Agent, FIRMWARE_VERSION } from '../device/agent.js';
import { enrol, EnrolmentError } from '../device/enrolment/enrolment.js';
import { BUTTON_DRIVERS, DISPLAY_DRIVERS, explain, makeButtons, makeDisplay, RunOptionsSchema, type RunOptions } from '../device/run-options.js';
import { startWiringCheck } from '../device/wiring-check.js';
import { buildClips, DEFAULT_CLIP_DIR } from '../device/voice/clips.js';
import { deviceStatusReport, formatDeviceStatus } from '../device/status-report.js';
import { clockSyncProbe } from '../device/util/clock-sync.js';
import { SystemdNotifier } from '../device/util/systemd.js';
import { registerHubCommands } from '../hub/cli/commands.js';
import { addProvinceOptions, forwardingCommand, handoffConfigFromOptions, provinceConfigFromOptions } from '../hub/forwarder/cli.js';
import { startHub } from '../hub/hub.js';
import { addLedgerCommands } from '../hub/ledger/cli.js';
import { addUserCommands } from '../hub/users/cli.js';
import { addStandInOptions, standInOptionsFrom } from '../simulator/province/cli.js';
import { startProvince } from '../simulator/province/province.js';
import { attachControl } from '../simulator/devices/device-side.js';
import { accountOk, FAULT_KINDS, formatAccount, runSim } from '../simulator/sim.js';
import type { FaultKind } from '../simulator/chaos/plan.js';
import { runInteractive } from '../simulator/interactive/interactive.js';
import { VirtualButtons } from '../device/buttons/virtual.js';
import { VirtualDisplay } from '../device/display/virtual.js';
import { registerReleaseCommands } from '../common/release/cli.js';
import { registerInstallCommands } from '../common/install/cli.js';
import { addBackupCommands } from '../hub/backup/cli.js';

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

/**
 * A configuration problem (or a port taken between the check and the listen) ends the command
 * with one line for hall IT and exit code 2; anything else is a bug and keeps its stack.
 */
function configErrorExit(cmd: string, e: unknown): void {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof ConfigError || code === 'EADDRINUSE' || code === 'EACCES') {
    process.stderr.write(`haochaping ${cmd}: ${oneLine((e as Error).message)}\n`);
    process.exit(CONFIG_ERROR_EXIT_CODE);
  }
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
  // Started by the simulator in a process group of its own: stop when the simulator is gone.
  exitWithParent();
}

const program = new Command('haochaping').description('好差评 counter evaluators: hub, device agent, stand-in province and simulator').version(FIRMWARE_VERSION);

const hubCommand = program
  .command('hub')
  .description('run the hall hub: MQTT broker, ingest, forwarder to the province, HTTP API (or manage it: device, token, tls)')
  .option('--data <dir>', 'data directory (database, tokens)', '/var/lib/haochaping/hub')
  .option('--hall <id>', 'this hall\'s id', 'hall-1')
  .option('--host <addr>', 'address to listen on (MQTT and HTTP)', '0.0.0.0')
  .option('--mqtt-port <port>', 'plain (unencrypted) MQTT port (0: any free port); with TLS configured, plain MQTT runs only if this is given', int('--mqtt-port'), 1883)
  .option('--no-mqtt-plain', 'never listen on plain MQTT')
  .option('--mqtts-port <port>', 'MQTT over TLS port', int('--mqtts-port'), 8883)
  .option('--tls-key <file>', 'TLS private key (PEM); with --tls-cert enables MQTT over TLS')
  .option('--tls-cert <file>', 'TLS certificate chain (PEM)')
  .option('--tls-ca <file>', 'hall CA certificate given to devices at enrolment (PEM)')
  .option('--http-port <port>', 'HTTP API and web page port (HTTPS with the --tls-cert certificate when TLS is configured)', int('--http-port'), 8080)
  .option('--plain-http', 'serve the API and web page over plain HTTP even with TLS configured (a TLS reverse proxy in front; listen on 127.0.0.1)', false)
  .option('--trust-proxy <addrs>', 'comma-separated addresses/CIDRs of TLS reverse proxies whose X-Forwarded-For/-Proto are believed (client IP, Secure cookies)', (v) => v.split(',').map((x) => x.trim()).filter(Boolean), [])
  .option('--default-days <n>', 'an unrated session counts as 基本满意 after this many days', int('--default-days'), 7)
  .option('--working-days', 'count --default-days as working days (official holiday calendar, 调休 included)', false)
  .option('--holiday-file <file>', 'JSON {"holidays": [...], "workdays": [...], "years": [...]} overriding the official calendar (7-day defaults and 差评 deadlines)')
  .option('--policy <name|file>', '差评 deadlines: hubei, ankang, jilin, or a JSON policy file', 'ankang')
  .option('--log-level <level>', 'pino log level', 'info');
addProvinceOptions(hubCommand)
  .action(async (o, cmd: Command) => {
    const log = logger(o.logLevel);
    let hub: Awaited<ReturnType<typeof startHub>>;
    try {
      if (!!o.tlsKey !== !!o.tlsCert) throw new ConfigError('--tls-key and --tls-cert go together (make both with "haochaping hub tls init")');
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
        },
        log,
      );
      if (plainPort !== null) log.warn({ port: plainPort }, 'plain MQTT (no TLS): device secrets and ratings cross the network readable; for a demo on one machine, not for a hall (see "haochaping hub tls init")');
    } catch (e) {
      configErrorExit('hub', e);
      throw e;
    }
    onShutdown(log, () => hub.close());
  });
// `hub device add --data …`: options after a subcommand belong to it, not to `hub` itself.
program.enablePositionalOptions();
hubCommand.enablePositionalOptions();
registerHubCommands(hubCommand);
addLedgerCommands(hubCommand, program);
addUserCommands(hubCommand);
addBackupCommands(hubCommand);

const device = program.command('device').description('the evaluator agent');
device
  .command('enrol')
  .description('enrol this device with a hub using the one-time token from hall IT')
  .requiredOption('--data <dir>', 'device data directory')
  .requiredOption('--hub <url>', 'the hub\'s address, e.g. https://hub.hall.local:8080')
  .requiredOption('--token <token>', 'one-time enrolment token')
  .option('--ca-sha256 <fingerprint>', 'the hall CA\'s SHA-256 fingerprint (from the enrolment QR): the hub must prove itself with that CA, which MQTT then trusts')
  .action(async (o) => {
    if (!o.caSha256) process.stderr.write(`haochaping device enrol: warning: no --ca-sha256, so the hub's certificate is not pinned${String(o.hub).startsWith('https:') ? ' (the system CAs vouch for it)' : ' and the token and secret cross the network readable (plain HTTP)'}\n`);
    try {
      const { enrolment } = await enrol(resolve(o.data), o.hub, o.token, FIRMWARE_VERSION, { caSha256: o.caSha256 ?? null });
      console.log(`enrolled as ${enrolment.device} at window ${enrolment.window} of hall ${enrolment.hall}; broker ${enrolment.mqttUrl}${o.caSha256 ? ' (hall CA pinned)' : ''}`);
    } catch (e) {
      if (!(e instanceof EnrolmentError)) throw e;
      process.stderr.write(`haochaping device enrol: ${e.message}\n`);
      process.exit(1);
    }
  });

/** The button and display options `device run` and `device check` share. */
function driverOptions(cmd: Command): Command {
  return cmd
    .option('--buttons <driver>', `button driver: ${BUTTON_DRIVERS.join(' | ')}`, 'keyboard')
    .option('--button-pins <list>', 'gpio/gpiod: header GPIO (BCM) numbers, one per button, left to right, e.g. 17,27,22,23,24')
    .option('--button-count <n>', 'serial/keyboard/virtual: how many buttons', '5')
    .option('--gpio-chip <chip>', 'gpio: label of the sysfs GPIO chip (found by itself on a Pi); gpiod: the chip, default gpiochip0')
    .option('--keypad-port <path>', 'serial: the keypad\'s serial port')
    .option('--keypad-baud <baud>', 'serial: keypad baud rate', '9600')
    .option('--firmata-port <path>', 'firmata: the board\'s serial port')
    .option('--firmata-pins <list>', 'firmata: the board\'s digital pins, one per button', '2,3,4,5,6')
    .option('--debounce-ms <ms>', 'a contact level must hold this long to count', '30')
    .option('--stuck-after <s>', 'a button held this long is reported stuck', '60')
    .option('--display <driver>', `display driver: ${DISPLAY_DRIVERS.join(' | ')}`, 'terminal')
    .option('--led-pins <list>', 'leds: header GPIO numbers of the button LEDs, left to right')
    .option('--status-led <gpio>', 'leds: header GPIO number of the status LED')
    .option('--display-port <path>', 'serial: the display controller\'s serial port')
    .option('--display-baud <baud>', 'serial: display controller baud rate', '115200')
    .option('--epaper-model <model>', 'epaper: the controller: ssd1680 (2.13"/2.9"), ssd1683 (4.2"), uc8179 (7.5")')
    .option('--epaper-size <WxH>', 'epaper: native panel size if not the model\'s usual one, e.g. 128x296')
    .option('--epaper-rotation <deg>', 'epaper: how the panel is mounted: 0, 90, 180, 270 (clockwise)', '0')
    .option('--epaper-dc <gpio>', 'epaper: DC line (BCM)', '25')
    .option('--epaper-rst <gpio>', 'epaper: RST line (BCM)', '17')
    .option('--epaper-busy <gpio>', 'epaper: BUSY line (BCM)', '24')
    .option('--epaper-gpio <how>', 'epaper: control lines through sysfs (onoff) or gpiod (Pi 5 / Trixie)', 'sysfs')
    .option('--spi-bus <n>', 'epaper: SPI bus (/dev/spidevB.D)', '0')
    .option('--spi-device <n>', 'epaper: SPI chip select', '0')
    .option('--spi-speed <hz>', 'epaper: SPI clock in Hz', '4000000')
    .option('--epaper-full-every <n>', 'epaper: a full refresh after this many partial ones (ghosting)', '8')
    .option('--epaper-busy-timeout <s>', 'epaper: BUSY longer than this is a fault (display-busy-timeout)', '30')
    .option('--large-type', 'pixel panels: large type, high contrast', false)
    .option('--voice-dir <dir>', 'speak prompts with aplay from the clips in this directory (haochaping device voice build)')
    .option('--alsa-device <name>', 'voice: ALSA device for aplay -D, e.g. plughw:1,0');
}

/** Validates `device run`/`device check` options; on a mistake says what is wrong and exits 2. */
function runOptions(cmd: string, raw: Record<string, unknown>): RunOptions {
  const parsed = RunOptionsSchema.safeParse({ ...raw, clockSynced: raw.clockSynced === true ? 'yes' : raw.clockSynced });
  if (parsed.success) return parsed.data;
  process.stderr.write(`haochaping device ${cmd}: invalid options\n${explain(parsed.error)}\n`);
  process.exit(2);
}

driverOptions(
  device
    .command('check')
    .description('check the wiring before enrolment: prints every press and fault, cycles the display through every screen'),
)
  .option('--every <s>', 'seconds per screen', '3')
  .action(async (raw) => {
    const o = runOptions('check', { ...raw, data: '-' });
    const log = logger('warn', 2);
    const stop = await startWiringCheck(makeButtons(o, log), makeDisplay(o, log), (l) => process.stdout.write(l + '\n'), Number(raw.every) * 1000).catch((e: Error) => {
      process.stderr.write(`haochaping device check: ${e.message}\n`);
      process.exit(1);
    });
    onShutdown(log, stop);
  });

driverOptions(
  device
    .command('run')
    .description('run the agent (buttons, display, rating flow, outbox, hub link)')
    .requiredOption('--data <dir>', 'device data directory'),
)
  .option('--clock-synced [mode]', 'is the wall clock right: auto (systemd-timesyncd\'s marker), yes, no', 'auto')
  .option('--clock-sync-file <path>', 'the file whose presence means "clock synced" (auto)')
  .option('--outbox-capacity <n>', 'undelivered ratings kept at most; when full the device says out of service', '100000')
  .option('--retain-delivered <n>', 'delivered ratings kept for diagnosis (newest by sequence)', '1000')
  .option('--outbox-max-mb <mb>', 'cap on the outbox file size')
  .addOption(new Option('--control <channel>', 'simulator: JSON-line commands on stdin (presses), events on stdout (records stored, frames); implies virtual buttons and display').choices(['stdio']))
  .option('--log-level <level>', 'pino log level', 'info')
  .action(async (raw) => {
    const o = runOptions('run', raw);
    const log = logger(o.logLevel, 2);
    // The simulator's control channel (simulator/devices/): virtual buttons it presses, frames it reads.
    const control = raw.control === 'stdio' ? { buttons: new VirtualButtons(o.buttonCount), display: new VirtualDisplay() } : null;
    let agent: Agent;
    try {
      agent = new Agent({
        dataDir: resolve(o.data),
        buttons: control?.buttons ?? makeButtons(o, log),
        display: control?.display ?? makeDisplay(o, log, () => agent?.currentConfig.voice),
        log,
        clockSynced: clockSyncProbe(o.clockSynced, o.clockSyncFile),
        outbox: { capacity: o.outboxCapacity, retainDelivered: o.retainDelivered, ...(o.outboxMaxMb ? { maxPages: (o.outboxMaxMb * 1024 * 1024) / 4096 } : {}) },
      });
    } catch (e) {
      process.stderr.write(`haochaping device run: ${(e as Error).message}\n`);
      process.exit(1);
    }
    const channel = control ? attachControl(agent, control.buttons) : null;
    const systemd = new SystemdNotifier();
    onShutdown(log, async () => {
      await systemd.stopping();
      channel?.close();
      await agent.stop();
    });
    try {
      await agent.start();
      channel?.ready();
      await systemd.ready(() => agent.healthy());
    } catch (e) {
      log.fatal({ err: (e as Error).message }, 'the agent could not start');
      process.stderr.write(`haochaping device run: ${(e as Error).message}\n`);
      await agent.stop().catch(() => {});
      process.exit(1);
    }
    log.info({ buttons: o.buttons, display: o.display, device: agent.enrolment.device }, 'agent running');
  });
device
  .command('voice')
  .description('spoken prompts')
  .command('build')
  .description('make the WAV clips (prompt, thank-you, reasons, out of service, button names) with espeak-ng\'s Mandarin voice')
  .option('--dir <dir>', 'where the clips go (the agent\'s --voice-dir)', DEFAULT_CLIP_DIR)
  .option('--voice <name>', 'espeak-ng voice', 'cmn')
  .option('--speed <wpm>', 'words per minute', int('--speed'), 150)
  .option('--force', 'overwrite clips already there (the hall\'s own recordings are kept otherwise)', false)
  .action(async (o) => {
    try {
      for (const c of await buildClips({ dir: resolve(o.dir), voice: o.voice, speed: o.speed, force: o.force })) {
        process.stdout.write(`${c.kept ? 'kept ' : 'made '} ${c.file}  ${c.text}\n`);
      }
    } catch (e) {
      process.stderr.write(`haochaping device voice build: ${(e as Error).message}\n`);
      process.exit(1);
    }
  });
device
  .command('status')
  .description('show the local outbox: undelivered ratings, sequence, refused records (works while the agent runs)')
  .requiredOption('--data <dir>', 'device data directory')
  .option('--json', 'print one JSON object', false)
  .action((o) => {
    const report = deviceStatusReport(resolve(o.data));
    process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatDeviceStatus(report) + '\n');
  });

const provinceCommand = program
  .command('province')
  .description('run the stand-in provincial 好差评 platform')
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'HTTP port', int('--port'), 8090)
  .option('--db <file>', 'SQLite file to keep accepted evaluations in', ':memory:')
  .option('--log-level <level>', 'pino log level', 'info');
addStandInOptions(provinceCommand)
  .action(async (o) => {
    const log = logger(o.logLevel);
    const p = await startProvince({ host: o.host, port: o.port, dbPath: o.db, log, ...standInOptionsFrom(o) });
    onShutdown(log, () => p.close());
  });

program
  .command('sim')
  .description('run a whole hall on this machine: hub, stand-in province and simulated evaluators')
  .option('--devices <n>', 'number of evaluators', int('--devices'), 3)
  .option('--duration <seconds>', 'seconds of play (default: until Ctrl-C)', positive('--duration'))
  .addOption(new Option('--play <how>', 'day: the queue system opens sessions and citizens rate; walk-up: citizens step up and press').choices(['day', 'walk-up']).default('day'))
  .option('--speed <factor>', 'day: time runs this many times faster (device timeouts shrink with it)', positive('--speed'), 60)
  .option('--cases-per-hour <n>', 'day: cases finished per window per hour', positive('--cases-per-hour'), 8)
  .option('--interval <seconds>', 'walk-up: mean seconds between citizens at one window', positive('--interval'), 2)
  .option('--load <rate>', 'load: walk-up presses per second per device (sets --play walk-up)', positive('--load'))
  .option('--chaos', 'inject faults: each device its own process, killed, cut off, out of disk; hub and province killed', false)
  .option('--faults <kinds>', `chaos: comma-separated fault kinds (${FAULT_KINDS.join(', ')})`, FAULT_KINDS.join(','))
  .option('--fault-gap <seconds>', 'chaos: mean seconds between faults', positive('--fault-gap'), 8)
  .option('--processes', 'run each device as its own process also without chaos', false)
  .option('--interactive', 'pick a window, see its screen, press 1–5 yourself', false)
  .option('--seed <n>', 'random seed, to run the same citizens and faults again', int('--seed'))
  .option('--data <dir>', 'keep data and logs here (default: a temporary directory, removed at the end)')
  .option('--keep', 'keep the temporary directory', false)
  .option('--drain-timeout <seconds>', 'how long to wait for every queue to empty at the end', positive('--drain-timeout'), 180)
  .option('--mqtt-port <port>', 'the hub\'s MQTT port if free, else any free port (0: any)', int('--mqtt-port'), 1883)
  .option('--http-port <port>', 'the hub\'s HTTP port (web page, API) if free, else any free port (0: any)', int('--http-port'), 8080)
  .option('--json', 'end with the account as one JSON line on stdout', false)
  .action(async (o) => {
    if (o.interactive) {
      await runInteractive({ devices: o.devices, dataDir: o.data ? resolve(o.data) : undefined, keep: o.keep });
      process.exit(0);
    }
    const kinds = String(o.faults).split(',').map((k) => k.trim()).filter(Boolean);
    const unknown = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
    if (unknown.length) program.error(`--faults: unknown fault kind ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
    if (o.chaos && o.duration === undefined) program.error('--chaos needs --duration');
    const account = await runSim({
      devices: o.devices,
      durationS: o.duration ?? null,
      play: o.load ? 'walk-up' : o.play,
      meanIntervalS: o.load ? 1 / o.load : o.interval,
      speed: o.speed,
      day: { casesPerHour: o.casesPerHour },
      processes: o.processes,
      chaos: o.chaos ? { kinds: kinds as FaultKind[], meanGapS: o.faultGap } : null,
      seed: o.seed,
      dataDir: o.data ? resolve(o.data) : undefined,
      keep: o.keep,
      drainTimeoutS: o.drainTimeout,
      ports: { mqtt: o.mqttPort, http: o.httpPort },
    }).catch((e: unknown) => {
      // The hall did not come up (a part would not start): one line; the logs say the rest.
      process.stderr.write(`haochaping sim: ${(e as Error).message}\n`);
      process.exit(1);
    });
    process.stderr.write(formatAccount(account) + '\n');
    if (o.load) process.stderr.write(`load: ${(account.pressed / Math.max(1, o.duration ?? account.seconds)).toFixed(1)} thanked presses/s offered by ${o.devices} devices at ${o.load}/s each\n`);
    if (o.json) process.stdout.write(JSON.stringify(account) + '\n');
    process.exit(accountOk(account) ? 0 : 1);
  });

program.addCommand(forwardingCommand());

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

registerReleaseCommands(program);
registerInstallCommands(program);

await program.parseAsync();
