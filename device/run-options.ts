/**
 * `haochaping device run`: its options, validated with messages a hall IT person can act on,
 * and the drivers they choose. Kept out of bin/cli/device.ts so the rules are tested without a process.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { ButtonDriver } from './buttons/types.js';
import type { DisplayDriver } from './display/types.js';
import { EPAPER_MODELS, MODEL_SIZES } from './display/epaper/models.js';
import { TIMESYNC_FILE } from './util/clock-sync.js';
import type { VoiceSettings } from './voice/voice.js';

export const BUTTON_DRIVERS = ['gpio', 'gpiod', 'serial', 'firmata', 'keyboard', 'virtual'] as const;
export const DISPLAY_DRIVERS = ['leds', 'serial', 'epaper', 'terminal', 'virtual'] as const;
/** Header GPIOs of SPI0 (MISO 9, MOSI 10, SCLK 11, CE0 8, CE1 7): never DC/RST/BUSY or buttons. */
const SPI0_PINS = [7, 8, 9, 10, 11];

/** "17,27,22" → [17, 27, 22]; anything else is left for the schema to refuse with its message. */
const pinList = (what: string) =>
  z
    .string()
    .transform((s, ctx) => {
      const parts = s.split(',').map((p) => p.trim());
      if (parts.some((p) => !/^\d{1,3}$/.test(p))) {
        ctx.addIssue({ code: 'custom', message: `${what} must be GPIO numbers separated by commas, e.g. 17,27,22,23,24 (got "${s}")` });
        return z.NEVER;
      }
      return parts.map(Number);
    })
    .optional();

const whole = (what: string, min: number, max: number) =>
  z.coerce
    .number({ message: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

export const RunOptionsSchema = z
  .object({
    data: z.string().min(1, '--data must name the device data directory'),
    buttons: z.enum(BUTTON_DRIVERS, { message: `--buttons must be one of ${BUTTON_DRIVERS.join(', ')}` }).default('keyboard'),
    buttonPins: pinList('--button-pins'),
    buttonCount: whole('--button-count', 2, 5).default(5),
    gpioChip: z.string().min(1).optional(),
    keypadPort: z.string().min(1).optional(),
    keypadBaud: whole('--keypad-baud', 300, 4_000_000).default(9600),
    firmataPort: z.string().min(1).optional(),
    firmataPins: pinList('--firmata-pins'),
    debounceMs: whole('--debounce-ms', 1, 1000).default(30),
    stuckAfter: whole('--stuck-after', 5, 3600).default(60),
    display: z.enum(DISPLAY_DRIVERS, { message: `--display must be one of ${DISPLAY_DRIVERS.join(', ')}` }).default('terminal'),
    ledPins: pinList('--led-pins'),
    statusLed: whole('--status-led', 0, 63).optional(),
    displayPort: z.string().min(1).optional(),
    displayBaud: whole('--display-baud', 300, 4_000_000).default(115200),
    epaperModel: z.enum(EPAPER_MODELS, { message: `--epaper-model must be one of ${EPAPER_MODELS.join(', ')}` }).optional(),
    epaperSize: z
      .string()
      .regex(/^\d{2,4}x\d{2,4}$/, "--epaper-size must be WIDTHxHEIGHT in the panel's native pixels, e.g. 800x480")
      .transform((v) => v.split('x').map(Number) as [number, number])
      .optional(),
    epaperRotation: z
      .enum(['0', '90', '180', '270'], { message: '--epaper-rotation must be 0, 90, 180 or 270' })
      .default('0')
      .transform((v) => Number(v) as 0 | 90 | 180 | 270),
    epaperDc: whole('--epaper-dc', 0, 63).default(25),
    epaperRst: whole('--epaper-rst', 0, 63).default(17),
    epaperBusy: whole('--epaper-busy', 0, 63).default(24),
    epaperGpio: z.enum(['sysfs', 'gpiod'], { message: '--epaper-gpio must be sysfs or gpiod' }).default('sysfs'),
    spiBus: whole('--spi-bus', 0, 6).default(0),
    spiDevice: whole('--spi-device', 0, 3).default(0),
    spiSpeed: whole('--spi-speed', 100_000, 50_000_000).default(4_000_000),
    epaperFullEvery: whole('--epaper-full-every', 0, 1000).default(8),
    epaperBusyTimeout: whole('--epaper-busy-timeout', 1, 600).default(30),
    largeType: z.boolean().default(false),
    voiceDir: z.string().min(1).optional(),
    alsaDevice: z.string().min(1).optional(),
    clockSynced: z.enum(['auto', 'yes', 'no'], { message: '--clock-synced must be auto, yes or no' }).default('auto'),
    clockSyncFile: z.string().default(TIMESYNC_FILE),
    outboxCapacity: whole('--outbox-capacity', 10, 10_000_000).default(100_000),
    retainDelivered: whole('--retain-delivered', 0, 10_000_000).default(1000),
    outboxMaxMb: whole('--outbox-max-mb', 1, 100_000).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    releaseKey: z.string().min(1).default('/etc/haochaping/release.pub'),
    allowDowngrade: z.boolean().default(false),
    updateProbation: whole('--update-probation', 10, 86_400).default(300),
  })
  .superRefine((o, ctx) => {
    const need = (cond: boolean, path: string, message: string) => cond || ctx.addIssue({ code: 'custom', path: [path], message });
    const count = (list: number[] | undefined) => list?.length ?? 0;
    if (o.buttons === 'gpio' || o.buttons === 'gpiod') {
      need(
        count(o.buttonPins) >= 2 && count(o.buttonPins) <= 5,
        'buttonPins',
        `--buttons ${o.buttons} needs --button-pins: one GPIO number per button, left to right, 2 to 5 of them (got ${count(o.buttonPins)})`,
      );
      need(new Set(o.buttonPins).size === count(o.buttonPins), 'buttonPins', '--button-pins lists the same GPIO twice');
    }
    if (o.buttons === 'serial')
      need(Boolean(o.keypadPort), 'keypadPort', '--buttons serial needs --keypad-port, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…');
    if (o.buttons === 'firmata') {
      need(Boolean(o.firmataPort), 'firmataPort', '--buttons firmata needs --firmata-port, e.g. /dev/ttyACM0');
      need(
        o.firmataPins === undefined || (count(o.firmataPins) >= 2 && count(o.firmataPins) <= 5),
        'firmataPins',
        `--firmata-pins must list 2 to 5 pins, one per button (got ${count(o.firmataPins)})`,
      );
    }
    const buttons = buttonCount(o);
    if (o.display === 'leds') {
      need(
        count(o.ledPins) === buttons,
        'ledPins',
        `--display leds needs --led-pins with one GPIO per button: ${buttons} buttons, ${count(o.ledPins)} LEDs`,
      );
      need(o.statusLed !== undefined, 'statusLed', '--display leds needs --status-led, the GPIO of the status LED');
      const all = [
        ...(o.ledPins ?? []),
        ...(o.statusLed === undefined ? [] : [o.statusLed]),
        ...(o.buttons === 'gpio' ? (o.buttonPins ?? []) : []),
      ];
      need(new Set(all).size === all.length, 'ledPins', 'a GPIO is used twice among --led-pins, --status-led and --button-pins');
    }
    if (o.display === 'serial') need(Boolean(o.displayPort), 'displayPort', '--display serial needs --display-port, e.g. /dev/ttyAMA0');
    if (o.display === 'epaper') {
      need(
        o.epaperModel !== undefined,
        'epaperModel',
        `--display epaper needs --epaper-model: ${EPAPER_MODELS.join(', ')} (the controller on the panel's flex cable or its data sheet)`,
      );
      const ctl = [o.epaperDc, o.epaperRst, o.epaperBusy];
      need(new Set(ctl).size === 3, 'epaperDc', '--epaper-dc, --epaper-rst and --epaper-busy must be three different GPIOs');
      need(!ctl.some((p) => SPI0_PINS.includes(p)), 'epaperDc', `DC/RST/BUSY cannot be SPI0's own pins (GPIO ${SPI0_PINS.join(', ')})`);
      const buttons = o.buttons === 'gpio' || o.buttons === 'gpiod' ? (o.buttonPins ?? []) : [];
      need(
        !buttons.some((p) => ctl.includes(p) || SPI0_PINS.includes(p)),
        'buttonPins',
        'a button GPIO is also used by the e-paper panel (DC/RST/BUSY or SPI0)',
      );
      const max = o.epaperModel ? MODEL_SIZES[o.epaperModel] : null;
      if (max && o.epaperSize)
        need(
          o.epaperSize[0] <= max.maxWidth && o.epaperSize[1] <= max.maxHeight,
          'epaperSize',
          `a ${o.epaperModel} drives at most ${max.maxWidth}x${max.maxHeight}`,
        );
    }
    if (o.buttons === 'serial' && o.display === 'serial' && o.keypadPort && o.keypadPort === o.displayPort) {
      ctx.addIssue({ code: 'custom', path: ['displayPort'], message: '--keypad-port and --display-port must be different ports' });
    }
  });
export type RunOptions = z.output<typeof RunOptionsSchema>;

export function buttonCount(o: Pick<RunOptions, 'buttons' | 'buttonPins' | 'firmataPins' | 'buttonCount'>): number {
  if (o.buttons === 'gpio' || o.buttons === 'gpiod') return o.buttonPins?.length ?? 0;
  if (o.buttons === 'firmata') return o.firmataPins?.length ?? 5;
  return o.buttonCount;
}

/** The validation errors as lines a person reads, one per problem. */
export function explain(e: z.ZodError): string {
  return e.issues.map((i) => `  - ${i.message}`).join('\n');
}

/**
 * The chosen button driver. Each driver's module (and what it needs: serialport, johnny-five,
 * onoff) is imported only when chosen, so an agent carries only its own hardware's code (issue 14).
 */
export async function makeButtons(o: RunOptions, log: Logger): Promise<ButtonDriver> {
  const timing = { debounceMs: o.debounceMs, stuckMs: o.stuckAfter * 1000 };
  switch (o.buttons) {
    case 'gpio':
      return new (await import('./buttons/gpio-onoff.js')).OnoffButtons({ pins: o.buttonPins!, chipLabel: o.gpioChip, ...timing });
    case 'gpiod':
      return new (await import('./buttons/gpiod.js')).GpiodButtons({ chip: o.gpioChip ?? 'gpiochip0', pins: o.buttonPins!, ...timing });
    case 'serial':
      return new (await import('./buttons/serial-keypad.js')).SerialKeypad({
        path: o.keypadPort!,
        baudRate: o.keypadBaud,
        count: o.buttonCount,
        log: log.child({ part: 'keypad' }),
        ...timing,
      });
    case 'firmata':
      return new (await import('./buttons/firmata.js')).FirmataButtons({
        path: o.firmataPort!,
        pins: o.firmataPins ?? [2, 3, 4, 5, 6],
        ...timing,
      });
    case 'keyboard':
      return new (await import('./buttons/keyboard.js')).KeyboardButtons(o.buttonCount);
    case 'virtual':
      return new (await import('./buttons/virtual.js')).VirtualButtons(o.buttonCount, timing);
  }
}

/**
 * The display, and with --voice-dir the spoken prompts beside it; `voice` reads the window's
 * voice settings from the config the hub pushed.
 */
export async function makeDisplay(
  o: RunOptions,
  log: Logger,
  voice?: () => Partial<VoiceSettings> | null | undefined,
): Promise<DisplayDriver> {
  const panel = await makePanel(o, log);
  if (!o.voiceDir) return panel;
  const [{ TeeDisplay }, { VoicePrompts }] = await Promise.all([import('./display/tee.js'), import('./voice/voice.js')]);
  return new TeeDisplay([
    panel,
    new VoicePrompts({ dir: o.voiceDir, alsaDevice: o.alsaDevice, settings: voice, log: log.child({ part: 'voice' }) }),
  ]);
}

async function makePanel(o: RunOptions, log: Logger): Promise<DisplayDriver> {
  switch (o.display) {
    case 'leds':
      return new (await import('./display/leds.js')).LedDisplay({
        pins: o.ledPins!,
        statusPin: o.statusLed!,
        chipLabel: o.buttons === 'gpio' ? o.gpioChip : undefined,
      });
    case 'serial':
      return new (await import('./display/serial-display.js')).SerialDisplay({
        path: o.displayPort!,
        baudRate: o.displayBaud,
        log: log.child({ part: 'display' }),
      });
    case 'epaper':
      return (await import('./display/epaper/create.js')).createEpaperDisplay({
        model: o.epaperModel!,
        ...(o.epaperSize ? { width: o.epaperSize[0], height: o.epaperSize[1] } : {}),
        rotation: o.epaperRotation,
        largeType: o.largeType,
        pins: { dc: o.epaperDc, rst: o.epaperRst, busy: o.epaperBusy },
        gpio: o.epaperGpio,
        sysfs: { chipLabel: o.epaperGpio === 'sysfs' ? o.gpioChip : undefined },
        gpiodChip: o.epaperGpio === 'gpiod' ? (o.gpioChip ?? 'gpiochip0') : undefined,
        spi: { bus: o.spiBus, device: o.spiDevice, speedHz: o.spiSpeed },
        fullEvery: o.epaperFullEvery,
        busyTimeoutMs: o.epaperBusyTimeout * 1000,
        log: log.child({ part: 'display' }),
      });
    case 'terminal':
      return new (await import('./display/terminal.js')).TerminalDisplay();
    case 'virtual':
      return new (await import('./display/virtual.js')).VirtualDisplay();
  }
}
