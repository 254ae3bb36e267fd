/** `haochaping sim`: a whole hall on this machine. */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { share } from '../../common/cli-options.js';
import type { FaultKind } from '../../simulator/chaos/plan.js';
import { runInteractive } from '../../simulator/interactive/interactive.js';
import { accountOk, FAULT_KINDS, formatAccount, runSim } from '../../simulator/sim.js';
import { int, positive } from './shared.js';

export function register(program: Command): void {
  program
    .command('sim')
    .description('run a whole hall on this machine: hub, stand-in province and simulated evaluators')
    .option('--devices <n>', 'number of evaluators', int('--devices'), 3)
    .option('--duration <seconds>', 'seconds of play (default: until Ctrl-C)', positive('--duration'))
    .addOption(
      new Option('--play <how>', 'day: the queue system opens sessions and citizens rate; walk-up: citizens step up and press')
        .choices(['day', 'walk-up'])
        .default('day'),
    )
    .option('--speed <factor>', 'day: time runs this many times faster (device timeouts shrink with it)', positive('--speed'), 60)
    .option('--cases-per-hour <n>', 'day: cases finished per window per hour', positive('--cases-per-hour'), 8)
    .option(
      '--scan-text <share>',
      "share of 差评 givers who scan the receipt QR and add text on the hub's citizen page",
      share('--scan-text'),
    )
    .option('--rate-later <share>', "day: share of citizens who walk away and rate later from the prompt's QR", share('--rate-later'))
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
    .option('--mqtt-port <port>', "the hub's MQTT port if free, else any free port (0: any)", int('--mqtt-port'), 1883)
    .option('--http-port <port>', "the hub's HTTP port (web page, API) if free, else any free port (0: any)", int('--http-port'), 8080)
    .option('--json', 'end with the account as one JSON line on stdout', false)
    .action(async (o) => {
      if (o.interactive) {
        await runInteractive({ devices: o.devices, dataDir: o.data ? resolve(o.data) : undefined, keep: o.keep });
        process.exit(0);
      }
      const kinds = String(o.faults)
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean);
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
        profile: {
          ...(o.scanText !== undefined ? { scanText: o.scanText } : {}),
          ...(o.rateLater !== undefined ? { rateLater: o.rateLater } : {}),
        },
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
      if (o.load)
        process.stderr.write(
          `load: ${(account.pressed / Math.max(1, o.duration ?? account.seconds)).toFixed(1)} thanked presses/s offered by ${o.devices} devices at ${o.load}/s each\n`,
        );
      if (o.json) process.stdout.write(JSON.stringify(account) + '\n');
      process.exit(accountOk(account) ? 0 : 1);
    });
}
