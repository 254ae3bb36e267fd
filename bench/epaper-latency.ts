/**
 * E-paper bench (npm run bench:epaper): press → durable write → the thank-you bitmap fully
 * transferred to the panel's RAM over SPI, beside a bare better-sqlite3 insert (WAL,
 * synchronous=FULL, one row per transaction) on the same disk in the same run.
 *
 * The agent, its outbox, the renderer and the e-paper driver are the real ones; only spidev and
 * the GPIO wires are simulated: each SPI transfer takes as long as its bytes need at the
 * declared clock (8 bits per byte at --spi-hz, default 4 MHz, a Pi's usual e-paper setting),
 * and BUSY is released at once (the panel's own refresh time, 0.3–4 s, comes after the
 * transfer and is the panel's, not ours). Panel: a UC8179 7.5" 800×480 unless --model ssd1683.
 *
 * Options: --presses N (default 100), --spi-hz HZ, --model uc8179|ssd1683. Prints a table and a JSON line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { Agent } from '../device/agent.js';
import { VirtualButtons } from '../device/buttons/virtual.js';
import { createEpaperDisplay } from '../device/display/epaper/create.js';
import type { SpiOpener } from '../device/display/epaper/spi.js';
import { CONFIG_CACHE_FILE, ENROLMENT_FILE } from '../device/enrolment/enrolment.js';
import type { GpioClass, GpioLine } from '../device/gpio/sysfs-chip.js';
import { defaultDeviceConfig } from '../protocol/index.js';
import { freePort } from '../simulator/processes.js';
import { percentile } from './stats.js';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : d;
};
const PRESSES = Number(arg('--presses', '100'));
const SPI_HZ = Number(arg('--spi-hz', '4000000'));
const MODEL = arg('--model', 'uc8179') as 'uc8179' | 'ssd1683';

const round = (x: number) => Math.round(x * 100) / 100;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** spidev at the declared clock: a transfer completes after its bytes' time on the wire. */
const timedSpi: SpiOpener = async () => ({
  transfer: (message, cb) => {
    const bytes = message.reduce((n, m) => n + m.byteLength, 0);
    const until = performance.now() + (bytes * 8 * 1000) / SPI_HZ;
    // A busy wait below 2 ms (timers are too coarse), a timer above.
    const done = () => (performance.now() >= until ? cb(null, message) : setImmediate(done));
    setTimeout(done, Math.max(0, until - performance.now() - 2));
    return undefined;
  },
  close: (cb) => cb(null),
});

/** Wires: DC/RST accepted, BUSY always idle (UC8179 idles high, SSD168x low). */
function wires(idle: 0 | 1, busyLine: number): GpioClass {
  return class implements GpioLine {
    constructor(private readonly line: number) {}
    readSync() {
      return this.line === busyLine ? idle : 0;
    }
    writeSync() {}
    watch() {}
    unwatchAll() {}
    unexport() {}
  } as unknown as GpioClass;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-epd-'));
  try {
    const sysfs = join(dir, 'gpio');
    mkdirSync(join(sysfs, 'gpiochip512'), { recursive: true });
    writeFileSync(join(sysfs, 'gpiochip512', 'base'), '512\n');
    writeFileSync(join(sysfs, 'gpiochip512', 'ngpio'), '58\n');
    writeFileSync(join(sysfs, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
    const data = join(dir, 'device');
    mkdirSync(data);
    writeFileSync(
      join(data, ENROLMENT_FILE),
      JSON.stringify({
        hall: 'h1',
        device: 'ev-1',
        window: '12',
        hubUrl: 'http://127.0.0.1:1',
        mqttUrl: `mqtt://127.0.0.1:${await freePort()}`,
        username: 'ev-1',
        password: 'x',
        ca: null,
        enrolledAt: 0,
      }),
    );
    const c = { ...defaultDeviceConfig('h1', 'ev-1', '12'), mode: 'walk-up' as const };
    c.timeouts = { ...c.timeouts, repeatIntervalS: 0, tooSoonS: 0, thanksS: 0.05 };
    writeFileSync(join(data, CONFIG_CACHE_FILE), JSON.stringify(c));

    const pins = { dc: 25, rst: 17, busy: 24 };
    const display = createEpaperDisplay({
      model: MODEL,
      pins,
      sysfs: { sysfsRoot: sysfs, Gpio: wires(MODEL === 'uc8179' ? 1 : 0, 512 + pins.busy) },
      spi: { bus: 0, device: 0, speedHz: SPI_HZ, open: timedSpi },
      busyPollMs: 1,
    });
    const buttons = new VirtualButtons(5, { debounceMs: 1, stuckMs: 60_000 });
    const agent = Agent.open({
      dataDir: data,
      buttons,
      display,
      log: pino({ level: 'silent' }),
      clockSynced: () => true,
      tickMs: 10,
      link: { backoff: undefined },
    });
    let pressedAt = 0;
    let storedAt = 0;
    let transferredAt = 0;
    agent.on('stored', () => (storedAt = performance.now()));
    display.on('transferred', (s) => s === 'thanks' && (transferredAt = performance.now()));
    await agent.start();
    await display.idle();
    const durable: number[] = [];
    const toPanel: number[] = [];
    for (let i = 0; i < PRESSES; i++) {
      transferredAt = 0;
      storedAt = 0;
      pressedAt = performance.now();
      buttons.press(i % 3); // good levels: no reasons page in the way
      while (!transferredAt) await sleep(1);
      durable.push(storedAt - pressedAt);
      toPanel.push(transferredAt - pressedAt);
      await display.idle();
      await sleep(60); // back to the prompt
      await display.idle();
    }
    await agent.stop();

    const db = new Database(join(dir, 'bare.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const ins = db.prepare('INSERT INTO t (seq, body) VALUES (?, ?)');
    const bare: number[] = [];
    for (let i = 0; i < PRESSES; i++) {
      const t0 = performance.now();
      db.transaction(() => ins.run(i + 1, 'x'.repeat(900))).immediate();
      bare.push(performance.now() - t0);
    }
    db.close();

    const row = (name: string, xs: number[]) =>
      `${name.padEnd(58)} ${round(percentile(xs, 50)).toString().padStart(8)} ${round(percentile(xs, 99)).toString().padStart(8)}`;
    const frameBytes = MODEL === 'uc8179' ? 48000 : 15000;
    process.stdout.write(
      [
        `e-paper bench: ${MODEL}, SPI ${SPI_HZ / 1e6} MHz (a full frame, ${frameBytes} bytes, is ${round((frameBytes * 8 * 1000) / SPI_HZ)} ms on the wire), ${PRESSES} presses`,
        `${''.padEnd(58)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
        row('press → durable (outbox, FULL sync)', durable),
        row('press → durable → thank-you bitmap in the panel RAM', toPanel),
        row('bare better-sqlite3 insert (WAL, FULL, 1 row/txn)', bare),
      ].join('\n') + '\n',
    );
    process.stdout.write(
      JSON.stringify({
        bench: 'epaper',
        model: MODEL,
        spiHz: SPI_HZ,
        presses: PRESSES,
        durable: { p50: round(percentile(durable, 50)), p99: round(percentile(durable, 99)) },
        thanksOnPanel: { p50: round(percentile(toPanel, 50)), p99: round(percentile(toPanel, 99)) },
        bareInsert: { p50: round(percentile(bare, 50)), p99: round(percentile(bare, 99)) },
      }) + '\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
    process.exit(1);
  },
);
