/**
 * `haochaping device …`: the evaluator agent. This module, and what it imports, is all a
 * `device run` process loads: no hub, web, broker or simulator code (issue 14: agent memory).
 */
import './device-v8.js'; // first: before the agent's code is loaded
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ReleaseSlots } from '../../common/release/slots.js';
import { FIRMWARE_VERSION, RELEASE_ROOT, VERSION } from '../../common/version.js';
import { readPinnedKey } from '../../device/update/updater.js';
import { Agent } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { attachControl } from '../../device/control/stdio-channel.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { enrol, EnrolmentError } from '../../device/enrolment/enrolment.js';
import {
  BUTTON_DRIVERS,
  DISPLAY_DRIVERS,
  explain,
  makeButtons,
  makeDisplay,
  RunOptionsSchema,
  type RunOptions,
} from '../../device/run-options.js';
import { deviceStatusReport, formatDeviceStatus } from '../../device/status-report.js';
import { clockSyncProbe } from '../../device/util/clock-sync.js';
import { SystemdNotifier } from '../../device/util/systemd.js';
import { buildClips, DEFAULT_CLIP_DIR } from '../../device/voice/clips.js';
import { startWiringCheck } from '../../device/wiring-check.js';
import { int, logger, onShutdown } from './shared.js';

export function register(program: Command): void {
  const device = program.command('device').description('the evaluator agent');
  device
    .command('enrol')
    .description('enrol this device with a hub using the one-time token from hall IT')
    .requiredOption('--data <dir>', 'device data directory')
    .requiredOption('--hub <url>', "the hub's address, e.g. https://hub.hall.local:8080")
    .requiredOption('--token <token>', 'one-time enrolment token')
    .option(
      '--ca-sha256 <fingerprint>',
      "the hall CA's SHA-256 fingerprint (from the enrolment QR): the hub must prove itself with that CA, which MQTT then trusts",
    )
    .action(async (o) => {
      if (!o.caSha256)
        process.stderr.write(
          `haochaping device enrol: warning: no --ca-sha256, so the hub's certificate is not pinned${String(o.hub).startsWith('https:') ? ' (the system CAs vouch for it)' : ' and the token and secret cross the network readable (plain HTTP)'}\n`,
        );
      try {
        const { enrolment } = await enrol(resolve(o.data), o.hub, o.token, FIRMWARE_VERSION, { caSha256: o.caSha256 ?? null });
        console.log(
          `enrolled as ${enrolment.device} at window ${enrolment.window} of hall ${enrolment.hall}; broker ${enrolment.mqttUrl}${o.caSha256 ? ' (hall CA pinned)' : ''}`,
        );
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
      .option('--keypad-port <path>', "serial: the keypad's serial port")
      .option('--keypad-baud <baud>', 'serial: keypad baud rate', '9600')
      .option('--firmata-port <path>', "firmata: the board's serial port")
      .option('--firmata-pins <list>', "firmata: the board's digital pins, one per button", '2,3,4,5,6')
      .option('--debounce-ms <ms>', 'a contact level must hold this long to count', '30')
      .option('--stuck-after <s>', 'a button held this long is reported stuck', '60')
      .option('--display <driver>', `display driver: ${DISPLAY_DRIVERS.join(' | ')}`, 'terminal')
      .option('--led-pins <list>', 'leds: header GPIO numbers of the button LEDs, left to right')
      .option('--status-led <gpio>', 'leds: header GPIO number of the status LED')
      .option('--display-port <path>', "serial: the display controller's serial port")
      .option('--display-baud <baud>', 'serial: display controller baud rate', '115200')
      .option('--epaper-model <model>', 'epaper: the controller: ssd1680 (2.13"/2.9"), ssd1683 (4.2"), uc8179 (7.5")')
      .option('--epaper-size <WxH>', "epaper: native panel size if not the model's usual one, e.g. 128x296")
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
      const stop = await startWiringCheck(
        await makeButtons(o, log),
        await makeDisplay(o, log),
        (l) => process.stdout.write(l + '\n'),
        Number(raw.every) * 1000,
      ).catch((e: Error) => {
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
    .option('--clock-synced [mode]', "is the wall clock right: auto (systemd-timesyncd's marker), yes, no", 'auto')
    .option('--clock-sync-file <path>', 'the file whose presence means "clock synced" (auto)')
    .option('--outbox-capacity <n>', 'undelivered ratings kept at most; when full the device says out of service', '100000')
    .option('--retain-delivered <n>', 'delivered ratings kept for diagnosis (newest by sequence)', '1000')
    .option('--outbox-max-mb <mb>', 'cap on the outbox file size')
    .addOption(
      new Option(
        '--control <channel>',
        'simulator: JSON-line commands on stdin (presses), events on stdout (records stored, frames); implies virtual buttons and display',
      ).choices(['stdio']),
    )
    .option('--log-level <level>', 'pino log level', 'info')
    .option(
      '--release-key <file>',
      'fleet updates: the release public key pinned at install (never one from the hub)',
      '/etc/haochaping/release.pub',
    )
    .option('--allow-downgrade', 'fleet updates: accept a release older than the running one', false)
    .option('--update-probation <s>', 'fleet updates: seconds a new release has to prove itself healthy, or it is rolled back', '300')
    .action(async (raw) => {
      const o = runOptions('run', raw);
      const log = logger(o.logLevel, 2);
      // The simulator's control channel (device/control/): virtual buttons it presses, frames it reads.
      const control = raw.control === 'stdio' ? { buttons: new VirtualButtons(o.buttonCount), display: new VirtualDisplay() } : null;
      let agent: Agent;
      try {
        const buttons = control?.buttons ?? (await makeButtons(o, log));
        const display = control?.display ?? (await makeDisplay(o, log, () => agent?.currentConfig.voice));
        agent = Agent.open({
          dataDir: resolve(o.data),
          buttons,
          display,
          log,
          clockSynced: clockSyncProbe(o.clockSynced, o.clockSyncFile),
          outbox: {
            capacity: o.outboxCapacity,
            retainDelivered: o.retainDelivered,
            ...(o.outboxMaxMb ? { maxPages: (o.outboxMaxMb * 1024 * 1024) / 4096 } : {}),
          },
          update: {
            // Only an installed release (/opt/haochaping/releases/<v>, run by the launcher) updates itself.
            slots: ReleaseSlots.ofRunningRelease(RELEASE_ROOT),
            releaseKey: readPinnedKey(resolve(o.releaseKey)),
            currentVersion: VERSION,
            allowDowngrade: o.allowDowngrade,
            probationS: o.updateProbation,
            restart: (why) => restart(why),
          },
        });
      } catch (e) {
        process.stderr.write(`haochaping device run: ${(e as Error).message}\n`);
        process.exit(1);
      }
      const channel = control ? attachControl(agent, control.buttons) : null;
      const systemd = new SystemdNotifier();
      // A new release is current (or this one failed its probation): stop cleanly and exit;
      // systemd (Restart=always) runs the launcher again, which starts what `current` names.
      let restarting = false;
      const restart = (why: string) => {
        if (restarting) return;
        restarting = true;
        log.warn({ why }, 'restarting for a fleet update');
        void (async () => {
          await systemd.stopping().catch(() => {});
          await agent.stop().catch((e: Error) => log.error({ err: e.message }, 'stop before restart failed'));
          process.exit(75);
        })();
      };
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
    .description("make the WAV clips (prompt, thank-you, reasons, out of service, button names) with espeak-ng's Mandarin voice")
    .option('--dir <dir>', "where the clips go (the agent's --voice-dir)", DEFAULT_CLIP_DIR)
    .option('--voice <name>', 'espeak-ng voice', 'cmn')
    .option('--speed <wpm>', 'words per minute', int('--speed'), 150)
    .option('--force', "overwrite clips already there (the hall's own recordings are kept otherwise)", false)
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
}
