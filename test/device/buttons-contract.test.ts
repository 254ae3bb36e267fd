/**
 * The button driver contract (after MQTT.js's abstract store suite): one set of rules, run
 * against every driver through a rig that plays the hardware at the lowest seam this machine
 * allows — fake sysfs files under onoff's Gpio class, a fake `gpiomon` executable printing
 * real event lines, real ptys from socat behind the real serialport binding, mock-firmata
 * under johnny-five. Bounce is real: edges milliseconds apart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import mockFirmata from 'mock-firmata';
import type { ButtonDriver } from '../../device/buttons/types.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { KeyboardButtons } from '../../device/buttons/keyboard.js';
import { OnoffButtons } from '../../device/buttons/gpio-onoff.js';
import { GpiodButtons } from '../../device/buttons/gpiod.js';
import { SerialKeypad } from '../../device/buttons/serial-keypad.js';
import { FirmataButtons, type FirmataIo } from '../../device/buttons/firmata.js';
import { FakeGpioBus, makeSysfs, PI4_BOOKWORM } from './fakes/fake-sysfs-gpio.js';
import { openHardwareEnd, ptyPair } from '../helpers/pty.js';
import { sleep, waitFor } from '../helpers/wait.js';

const COUNT = 5;
const TIMING = { debounceMs: 15, stuckMs: 400 };
const PINS = [17, 27, 22, 23, 24];

/** Plays the hardware under one driver. `level` sets a button's contact (true: closed). */
interface ButtonRig {
  driver: ButtonDriver;
  /** Drivers that see contact levels (and so must debounce and detect stuck buttons). */
  level?: (button: number, down: boolean) => Promise<void> | void;
  /** A clean press for drivers that only see whole presses. */
  tap?: (button: number) => Promise<void> | void;
  close(): Promise<void>;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-buttons-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  delete process.env.FAKE_GPIOD_SOCKET; // the fake gpiod programs' socket, set by each gpiod rig
  delete process.env.FAKE_GPIOD_LEVELS;
});

const rigs: Record<string, () => Promise<ButtonRig>> = {
  virtual: async () => {
    const driver = new VirtualButtons(COUNT, TIMING);
    return { driver, level: (b, down) => (down ? driver.down(b) : driver.up(b)), close: async () => {} };
  },

  keyboard: async () => {
    const input = new PassThrough() as unknown as NodeJS.ReadStream;
    const driver = new KeyboardButtons(COUNT, input);
    return { driver, tap: (b) => void (input as unknown as PassThrough).write(String(b + 1)), close: async () => {} };
  },

  'gpio (onoff on Bookworm sysfs, base 512)': async () => {
    const root = makeSysfs(join(dir, 'sys-class-gpio'), PI4_BOOKWORM);
    const bus = new FakeGpioBus(PI4_BOOKWORM);
    const driver = new OnoffButtons({ pins: PINS, sysfsRoot: root, Gpio: bus.Gpio, ...TIMING });
    // Active low: a closed contact pulls the line to ground. BCM n is sysfs 512 + n.
    return { driver, level: (b, down) => bus.set(512 + PINS[b]!, down ? 0 : 1), close: async () => {} };
  },

  'gpiod (a fake gpiomon executable printing libgpiod v1 event lines)': async () => {
    const sockPath = join(dir, 'gpio.sock');
    const clients = new Set<Socket>();
    const server: Server = createServer((s) => {
      clients.add(s);
      s.on('close', () => clients.delete(s));
    });
    await new Promise<void>((r) => server.listen(sockPath, r));
    process.env.FAKE_GPIOD_SOCKET = sockPath;
    const fake = join(import.meta.dirname, '../fixtures/fake-gpiod');
    const driver = new GpiodButtons({
      chip: 'gpiochip0',
      pins: PINS,
      gpiomon: join(fake, 'gpiomon'),
      gpioget: join(fake, 'gpioget'),
      ...TIMING,
    });
    const started = driver.start.bind(driver);
    driver.start = async () => {
      await started();
      await waitFor(() => clients.size > 0, 'gpiomon to connect to the fake chip', 10_000);
    };
    return {
      driver,
      level: (b, down) => {
        for (const c of clients) c.write(`${PINS[b]} ${down ? 1 : 0}\n`);
      },
      close: async () => {
        for (const c of clients) c.destroy();
        await new Promise((r) => server.close(r));
      },
    };
  },

  'serial keypad (real ptys from socat)': async () => {
    const pair = await ptyPair(dir, 'keypad');
    const driver = new SerialKeypad({ path: pair.device, baudRate: 9600, count: COUNT, ...TIMING });
    const hw = await openHardwareEnd(pair.hardware, 9600);
    return {
      driver,
      level: (b, down) => hw.write(`${down ? 'D' : 'U'}${b + 1}\r\n`),
      close: async () => {
        await hw.close();
        await pair.close();
      },
    };
  },

  'firmata (johnny-five on mock-firmata)': async () => {
    const io = new mockFirmata.Firmata() as unknown as FirmataIo & {
      digitalRead: (pin: number, cb: (v: number) => void) => void;
      emit(e: string): void;
    };
    const reads = new Map<number, (v: number) => void>();
    io.digitalRead = (pin, cb) => void reads.set(pin, cb);
    const driver = new FirmataButtons({ pins: [2, 3, 4, 5, 6], io, ...TIMING });
    setImmediate(() => {
      io.emit('connect');
      io.emit('ready');
    });
    return {
      driver,
      // Pull-up: pressed reads 0.
      level: (b, down) => reads.get(b + 2)!(down ? 0 : 1),
      close: async () => {},
    };
  },
};

function collect(d: ButtonDriver) {
  const ev = { presses: [] as number[], faults: [] as string[], recovered: [] as string[], counts: [] as string[] };
  d.on('press', (b) => ev.presses.push(b));
  d.on('fault', (f) => ev.faults.push(f));
  d.on('recover', (f) => ev.recovered.push(f));
  d.on('count', (c) => ev.counts.push(c));
  return ev;
}

/**
 * Contacts chatter: a burst of edges faster than the debounce time, then the settled level.
 * The burst is sent without waiting between edges: a test that slept 1 ms between them would,
 * on a loaded machine, really hold a level for 20 ms, and a driver that counts that as a press
 * would be right to.
 */
async function chatter(rig: ButtonRig, b: number, to: boolean): Promise<void> {
  const edges: Promise<void>[] = [];
  for (let i = 0; i < 4; i++) edges.push(Promise.resolve(rig.level!(b, to)), Promise.resolve(rig.level!(b, !to)));
  edges.push(Promise.resolve(rig.level!(b, to)));
  await Promise.all(edges);
}

async function cleanPress(rig: ButtonRig, b: number): Promise<void> {
  if (rig.tap) return void (await rig.tap(b));
  // Held well past the debounce time: a loaded machine may deliver the edges late.
  await rig.level!(b, true);
  await sleep(TIMING.debounceMs * 8);
  await rig.level!(b, false);
  await sleep(TIMING.debounceMs * 4);
}

for (const [name, make] of Object.entries(rigs)) {
  describe(`button driver contract: ${name}`, () => {
    let rig: ButtonRig;
    beforeEach(async () => {
      rig = await make();
    });
    afterEach(async () => {
      await rig.driver.stop();
      await rig.close();
    });

    it('says its name and how many buttons it reads', () => {
      expect(rig.driver.name).toMatch(/^[a-z]+$/);
      expect(rig.driver.count).toBe(COUNT);
    });

    it('one clean press of each button gives exactly one press, numbered left to right from 0', async () => {
      const ev = collect(rig.driver);
      await rig.driver.start();
      for (let b = 0; b < COUNT; b++) await cleanPress(rig, b);
      await waitFor(() => ev.presses.length >= COUNT, 'five presses', 5000);
      await sleep(100);
      expect(ev.presses).toEqual([0, 1, 2, 3, 4]);
      expect(ev.faults).toEqual([]);
    });

    it('after stop, the hardware can do what it likes: no press is reported', async () => {
      const ev = collect(rig.driver);
      await rig.driver.start();
      await rig.driver.stop();
      try {
        await cleanPress(rig, 0);
      } catch {
        /* the hardware end may be gone with the driver */
      }
      await sleep(100);
      expect(ev.presses).toEqual([]);
    });

    if (name === 'keyboard') return;

    it('contacts that chatter for a few ms on press and on release give one press', async () => {
      const ev = collect(rig.driver);
      await rig.driver.start();
      await chatter(rig, 2, true);
      await sleep(TIMING.debounceMs * 8);
      await chatter(rig, 2, false);
      await sleep(TIMING.debounceMs * 4);
      await waitFor(() => ev.presses.length >= 1, 'the press', 5000);
      await sleep(100);
      expect(ev.presses).toEqual([2]);
    });

    it('a spike shorter than the debounce time is not a press', async () => {
      const ev = collect(rig.driver);
      await rig.driver.start();
      await Promise.all([rig.level!(1, true), rig.level!(1, false)]); // back to back, as chatter() sends
      await sleep(TIMING.debounceMs * 5);
      expect(ev.presses).toEqual([]);
      await cleanPress(rig, 1); // and the button still works
      await waitFor(() => ev.presses.length === 1, 'the real press', 5000);
    });

    it('a button held down gives one press and a stuck-button fault; releasing it clears the fault', async () => {
      const ev = collect(rig.driver);
      await rig.driver.start();
      await chatter(rig, 4, true);
      await waitFor(() => ev.faults.includes('stuck-button-5'), 'the stuck fault', 5000);
      await sleep(TIMING.stuckMs); // held on: still one press, one fault
      expect(ev.presses).toEqual([4]);
      expect(ev.faults).toEqual(['stuck-button-5']);
      await chatter(rig, 4, false);
      await waitFor(() => ev.recovered.includes('stuck-button-5'), 'the fault to clear', 5000);
      await cleanPress(rig, 0);
      await waitFor(() => ev.presses.length === 2, 'a press after the release', 5000);
      expect(ev.presses).toEqual([4, 0]);
    });

    it('presses of different buttons in quick succession are each reported', async () => {
      const ev = collect(rig.driver);
      await rig.driver.start();
      await rig.level!(0, true);
      await sleep(5);
      await rig.level!(3, true);
      await sleep(TIMING.debounceMs * 8);
      await rig.level!(0, false);
      await rig.level!(3, false);
      await waitFor(() => ev.presses.length >= 2, 'two presses', 5000);
      expect([...ev.presses].sort()).toEqual([0, 3]);
    });
  });
}

describe('serial keypad: garbage on the line', () => {
  it('rejects and counts every line that is not the protocol, raises a fault after a run of them, and keeps working', async () => {
    const pair = await ptyPair(dir, 'kp');
    const driver = new SerialKeypad({ path: pair.device, baudRate: 9600, count: 5, garbageFaultAfter: 5, ...TIMING });
    const ev = collect(driver);
    await driver.start();
    const hw = await openHardwareEnd(pair.hardware, 9600);
    try {
      await hw.write('K1\n');
      await hw.write('\x00\xff\xfe garbage\r\nD9\nK0\nk2\nD 2\nHELLO\n' + 'x'.repeat(300) + '\n');
      await waitFor(() => ev.faults.includes('keypad-garbage'), 'the garbage fault', 5000);
      await hw.write('ID hcp-keypad v1\nHB\nK3\n');
      await waitFor(() => ev.presses.length === 2, 'the good presses', 5000);
      expect(ev.presses).toEqual([0, 2]);
      expect(ev.recovered).toContain('keypad-garbage');
      // 7 bad lines, the 300-byte run cut into pieces: at least 8 rejections, each counted.
      expect(ev.counts.filter((c) => c === 'keypadGarbage').length).toBeGreaterThanOrEqual(8);
      expect(new Set(ev.counts)).toEqual(new Set(['keypadGarbage']));
    } finally {
      await driver.stop();
      await hw.close();
      await pair.close();
    }
  });

  it('a keypad that is unplugged is reported lost and is used again when it comes back', async () => {
    const pair = await ptyPair(dir, 'kp2');
    const driver = new SerialKeypad({ path: pair.device, baudRate: 9600, count: 5, reopenMs: 100, ...TIMING });
    const ev = collect(driver);
    await driver.start();
    await pair.close(); // the USB adapter is pulled
    rmSync(pair.device, { force: true });
    rmSync(pair.hardware, { force: true });
    await waitFor(() => ev.faults.includes('keypad-lost'), 'keypad-lost', 5000);
    await sleep(300); // reopen attempts fail while nothing is plugged in
    const again = await ptyPair(dir, 'kp2');
    const hw = await openHardwareEnd(again.hardware, 9600);
    try {
      await waitFor(() => ev.recovered.includes('keypad-lost'), 'the keypad to come back', 5000);
      await hw.write('K5\n');
      await waitFor(() => ev.presses.includes(4), 'a press on the new port', 5000);
    } finally {
      await driver.stop();
      await hw.close();
      await again.close();
    }
  });
});

describe('gpiod: the gpiomon process', () => {
  it('a button held down at start-up (read with gpioget) is not a press, but is reported stuck', async () => {
    const server = createServer(() => {});
    const sockPath = join(dir, 'g.sock');
    await new Promise<void>((r) => server.listen(sockPath, r));
    process.env.FAKE_GPIOD_SOCKET = sockPath;
    process.env.FAKE_GPIOD_LEVELS = '22=1';
    const fake = join(import.meta.dirname, '../fixtures/fake-gpiod');
    const driver = new GpiodButtons({
      chip: 'gpiochip0',
      pins: PINS,
      gpiomon: join(fake, 'gpiomon'),
      gpioget: join(fake, 'gpioget'),
      ...TIMING,
    });
    const ev = collect(driver);
    try {
      await driver.start();
      await waitFor(() => ev.faults.includes('stuck-button-3'), 'stuck-button-3', 5000);
      expect(ev.presses).toEqual([]);
    } finally {
      delete process.env.FAKE_GPIOD_LEVELS;
      await driver.stop();
      server.close();
    }
  });

  it('if gpiomon dies the driver reports gpiod-lost and starts it again', async () => {
    const socks = new Set<Socket>();
    const server = createServer((s) => socks.add(s));
    const sockPath = join(dir, 'g2.sock');
    await new Promise<void>((r) => server.listen(sockPath, r));
    process.env.FAKE_GPIOD_SOCKET = sockPath;
    const fake = join(import.meta.dirname, '../fixtures/fake-gpiod');
    const driver = new GpiodButtons({
      chip: 'gpiochip0',
      pins: PINS,
      gpiomon: join(fake, 'gpiomon'),
      gpioget: join(fake, 'gpioget'),
      restartBaseMs: 50,
      ...TIMING,
    });
    const ev = collect(driver);
    try {
      await driver.start();
      await waitFor(() => socks.size === 1, 'gpiomon to connect', 5000);
      for (const s of socks) s.write('exit 1\n');
      await waitFor(() => ev.faults.includes('gpiod-lost'), 'gpiod-lost', 5000);
      await waitFor(() => socks.size === 2, 'gpiomon to be started again', 5000);
      const fresh = [...socks][1]!;
      fresh.write('17 1\n');
      await waitFor(() => ev.presses.length === 1 && ev.recovered.includes('gpiod-lost'), 'a press through the new gpiomon', 5000);
    } finally {
      await driver.stop();
      for (const s of socks) s.destroy();
      server.close();
    }
  });

  it("a chip that does not exist fails with gpiomon's own message", async () => {
    process.env.FAKE_GPIOD_SOCKET = join(dir, 'none.sock');
    const fake = join(import.meta.dirname, '../fixtures/fake-gpiod');
    const driver = new GpiodButtons({
      chip: 'gpiochip9',
      pins: PINS,
      gpiomon: join(fake, 'gpiomon'),
      gpioget: join(fake, 'gpioget'),
      restartBaseMs: 10_000,
      ...TIMING,
    });
    const faults: string[] = [];
    driver.on('fault', (f, d) => faults.push(`${f}: ${d}`));
    await driver.start();
    await waitFor(() => faults.length > 0, 'the fault', 5000);
    expect(faults[0]).toMatch(/gpiod-lost: .*gpiochip9/);
    await driver.stop();
  });
});
