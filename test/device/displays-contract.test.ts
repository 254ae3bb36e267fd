/**
 * The display driver contract: every driver, shown each kind of frame, makes the hardware
 * show that screen — read back at the lowest seam (GPIO levels sampled over time for the LEDs,
 * the lines arriving at the controller's end of a real pty for the serial display, the text
 * written for the terminal, the recorded frames for the virtual one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DisplayDriver, Screen } from '../../device/display/types.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { TerminalDisplay } from '../../device/display/terminal.js';
import { LedDisplay } from '../../device/display/leds.js';
import { SerialDisplay, frameLines } from '../../device/display/serial-display.js';
import { demoFrames } from '../../device/display/demo-frames.js';
import { FakeGpioBus, makeSysfs, PI5_BOOKWORM } from './fakes/fake-sysfs-gpio.js';
import { openHardwareEnd, ptyPair } from '../helpers/pty.js';
import { createEpaperDisplay } from '../../device/display/epaper/create.js';
import type { EpaperDisplay } from '../../device/display/epaper/epaper.js';
import { renderBitmap } from '../../device/display/render.js';
import { diffCount } from '../../device/display/bitmap.js';
import { FakeEpaperPanel } from './fakes/fake-epaper.js';
import { PI4_BOOKWORM } from './fakes/fake-sysfs-gpio.js';
import { sleep, waitFor } from '../helpers/wait.js';

const FRAMES = demoFrames();

interface DisplayRig {
  driver: DisplayDriver;
  /** What the hardware shows now, read back at the seam. */
  screen(): Promise<Screen | null>;
  close(): Promise<void>;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-display-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const LED_PINS = [5, 6, 13, 19, 26];
const STATUS_PIN = 12;

/**
 * Watches the LED lines for 700 ms and names each: off, on, slow or fast blinking (slow toggles
 * 4 times a second, fast 16). Judged from every level the driver wrote, timestamped at the
 * seam, per second actually elapsed: polling the levels missed toggles whenever this test
 * process was late (a fast blink read as slow in a loaded CI run).
 */
async function sampleLeds(bus: FakeGpioBus, lines: number[]): Promise<string[]> {
  const from = performance.now();
  await sleep(700);
  const to = performance.now();
  return lines.map((l) => {
    const { level, changes } = bus.trace(l, from, to);
    if (changes === 0) return level ? 'on' : 'off';
    return changes / ((to - from) / 1000) >= 8 ? 'fast' : 'slow';
  });
}

function screenFromLeds(buttons: string[], status: string): Screen | null {
  if (status === 'fast') return 'out-of-service';
  if (status === 'slow') return 'paused';
  if (buttons.every((b) => b === 'fast')) return 'thanks';
  if (buttons.some((b) => b === 'slow')) return 'reasons';
  if (buttons.every((b) => b === 'on')) return 'prompt';
  if (buttons.every((b) => b === 'off') && status === 'on') return 'idle';
  return null;
}

const rigs: Record<string, () => Promise<DisplayRig>> = {
  virtual: async () => {
    const driver = new VirtualDisplay();
    return { driver, screen: async () => driver.current?.screen ?? null, close: async () => {} };
  },

  terminal: async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => (text += c));
    const driver = new TerminalDisplay(out, { qr: true });
    return {
      driver,
      screen: async () => {
        const block =
          text
            .trimEnd()
            .split(/─{36}\n(?=.)/)
            .pop() ?? '';
        if (/设备暂停使用/.test(block)) return 'out-of-service';
        if (/^暂停服务/m.test(block)) return 'paused';
        if (/感谢您的评价/.test(block)) return 'thanks';
        if (/\(\d+\/\d+\)/.test(block)) return 'reasons';
        if (/\[1\] 非常满意/.test(block)) return 'prompt';
        if (/^窗口 /m.test(block)) return 'idle';
        return null;
      },
      close: async () => {},
    };
  },

  'leds (onoff on Pi 5 sysfs, base 571)': async () => {
    const root = makeSysfs(join(dir, 'gpio'), PI5_BOOKWORM);
    const bus = new FakeGpioBus(PI5_BOOKWORM, 0);
    const driver = new LedDisplay({ pins: LED_PINS, statusPin: STATUS_PIN, sysfsRoot: root, Gpio: bus.Gpio });
    const lines = [...LED_PINS, STATUS_PIN].map((p) => 571 + p);
    return {
      driver,
      screen: async () => {
        const s = await sampleLeds(bus, lines);
        return screenFromLeds(s.slice(0, 5), s[5]!);
      },
      close: async () => {},
    };
  },

  'epaper (UC8179 on fake spidev + sysfs lines, glass decoded from the SPI stream)': async () => {
    const pins = { dc: 25, rst: 17, busy: 24 };
    const panel = new FakeEpaperPanel({ family: 'uc', width: 800, height: 480, pins });
    const root = makeSysfs(join(dir, 'gpio'), PI4_BOOKWORM);
    const driver: EpaperDisplay = createEpaperDisplay({
      model: 'uc8179',
      pins,
      sysfs: { sysfsRoot: root, Gpio: panel.Gpio },
      spi: { bus: 0, device: 0, speedHz: 8_000_000, open: panel.open },
      busyPollMs: 1,
    });
    return {
      driver,
      // The screen whose rendered bitmap is exactly what the glass shows.
      screen: async () => {
        await driver.idle();
        for (const [screen, f] of Object.entries(FRAMES))
          if (diffCount(panel.glass, await renderBitmap(f, { width: 800, height: 480 })) === 0) return screen as Screen;
        return null;
      },
      close: async () => panel.close(),
    };
  },

  'serial display controller (real ptys from socat)': async () => {
    const pair = await ptyPair(dir, 'display');
    const driver = new SerialDisplay({ path: pair.device, baudRate: 115200 });
    const hw = await openHardwareEnd(pair.hardware, 115200);
    // Frames are numbered per send from 1; wait until the last one sent has fully arrived (a
    // fixed pause read an older frame when the machine was busy).
    let shown = 0;
    const show = driver.show.bind(driver);
    driver.show = (f) => {
      shown++;
      show(f);
    };
    const lastEnd = () => Math.max(0, ...hw.lines.filter((l) => /^END \d+$/.test(l)).map((l) => Number(l.slice(4))));
    return {
      driver,
      screen: async () => {
        await waitFor(() => lastEnd() >= shown, 'the last frame to arrive', 5000).catch(() => {});
        const ends = hw.lines.map((l, i) => [l, i] as const).filter(([l]) => /^END \d+$/.test(l));
        const last = ends[ends.length - 1];
        if (!last) return null;
        const n = last[0].slice(4);
        const start = hw.lines.lastIndexOf(hw.lines.find((l) => l.startsWith(`FRAME ${n} `))!);
        return (hw.lines[start]?.split(' ')[2] as Screen) ?? null;
      },
      close: async () => {
        await hw.close();
        await pair.close();
      },
    };
  },
};

for (const [name, make] of Object.entries(rigs)) {
  describe(`display driver contract: ${name}`, () => {
    let rig: DisplayRig;
    beforeEach(async () => {
      rig = await make();
    });
    afterEach(async () => {
      await rig.driver.stop();
      await rig.close();
    });

    it('says its name', () => {
      expect(rig.driver.name).toMatch(/^[a-z]+$/);
    });

    for (const screen of Object.keys(FRAMES) as Screen[]) {
      it(`shows the ${screen} screen`, async () => {
        await rig.driver.start();
        rig.driver.show(FRAMES.idle);
        rig.driver.show(FRAMES[screen]);
        expect(await rig.screen()).toBe(screen);
      });
    }

    it('the last frame shown wins when frames come quickly', async () => {
      await rig.driver.start();
      for (const f of Object.values(FRAMES)) rig.driver.show(f);
      rig.driver.show(FRAMES.prompt);
      expect(await rig.screen()).toBe('prompt');
    });

    it('stops cleanly and can be stopped after a failed start', async () => {
      await rig.driver.start();
      rig.driver.show(FRAMES.thanks);
      await rig.driver.stop();
    });
  });
}

describe('serial display protocol', () => {
  it('a frame is a block of lines: FRAME n screen … END n, buttons numbered from 1, text kept on one line', () => {
    expect(frameLines(7, FRAMES.reasons)).toEqual([
      'FRAME 7 reasons',
      'TEXT 请选择不满意的原因',
      'LEVEL 2',
      'PAGE 1/3',
      'OPT 1 R+ 207 没有提供材料样本',
      'OPT 2 R- 208 办事指南不清晰',
      'OPT 3 R- 209 办理流程繁琐',
      'OPT 4 NEXT 下一页',
      'OPT 5 DONE 确认',
      expect.stringMatching(/^QR https:\/\/hall\.example\/f\/r\/[0-9a-f-]{36}\/[\w-]{22}$/),
      'END 7',
    ]);
    expect(frameLines(1, { screen: 'idle', window: '12', windowName: 'A|B\nC', staff: null })).toEqual([
      'FRAME 1 idle',
      'WINDOW 12|A｜B C',
      'STAFF -',
      'END 1',
    ]);
    expect(frameLines(2, FRAMES.thanks)).toEqual([
      'FRAME 2 thanks',
      'TEXT 感谢您的评价',
      'LEVEL 2',
      expect.stringMatching(/^REF [0-9a-f-]{36}$/),
      expect.stringMatching(/^QR /),
      'END 2',
    ]);
  });

  it('a controller that reboots says HELLO and gets the current frame again', async () => {
    const pair = await ptyPair(dir, 'd1');
    const driver = new SerialDisplay({ path: pair.device });
    const hw = await openHardwareEnd(pair.hardware);
    try {
      await driver.start();
      driver.show(FRAMES.prompt);
      await waitFor(() => hw.lines.includes('END 1'), 'the first frame', 5000);
      await hw.write('HELLO epaper-ctl v2\n');
      await waitFor(() => hw.lines.includes('END 2'), 'the frame again', 5000);
      expect(hw.lines.filter((l) => l.startsWith('FRAME '))).toEqual(['FRAME 1 prompt', 'FRAME 2 prompt']);
    } finally {
      await driver.stop();
      await hw.close();
      await pair.close();
    }
  });

  it('a controller that acknowledged frames and then goes silent is a fault, cleared by its next ACK', async () => {
    const pair = await ptyPair(dir, 'd2');
    const driver = new SerialDisplay({ path: pair.device, ackTimeoutMs: 300 });
    const faults: string[] = [];
    const recovered: string[] = [];
    driver.on('fault', (f) => faults.push(f));
    driver.on('recover', (f) => recovered.push(f));
    const hw = await openHardwareEnd(pair.hardware);
    try {
      await driver.start();
      driver.show(FRAMES.idle);
      await waitFor(() => hw.lines.includes('END 1'), 'frame 1', 5000);
      await hw.write('ACK 1\n');
      await sleep(50);
      driver.show(FRAMES.prompt); // never acknowledged
      await waitFor(() => faults.includes('display-silent'), 'display-silent', 5000);
      await hw.write('ACK 2\n');
      await waitFor(() => recovered.includes('display-silent'), 'the fault to clear', 5000);
    } finally {
      await driver.stop();
      await hw.close();
      await pair.close();
    }
  });
});

describe('LED display', () => {
  it('drives the sysfs lines at chip base + BCM number, and leaves every LED off when stopped', async () => {
    const root = makeSysfs(join(dir, 'gpio'), PI5_BOOKWORM);
    const bus = new FakeGpioBus(PI5_BOOKWORM, 0);
    const d = new LedDisplay({ pins: LED_PINS, statusPin: STATUS_PIN, sysfsRoot: root, Gpio: bus.Gpio });
    await d.start();
    d.show(FRAMES.prompt);
    await sleep(100);
    expect([...bus.lines.keys()].sort()).toEqual([...LED_PINS, STATUS_PIN].map((p) => 571 + p).sort());
    expect(LED_PINS.map((p) => bus.electrical(571 + p))).toEqual([1, 1, 1, 1, 1]);
    await d.stop();
    expect([...LED_PINS, STATUS_PIN].map((p) => bus.electrical(571 + p))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('a system without sysfs GPIO fails with a message that says what to do', async () => {
    const bus = new FakeGpioBus(PI5_BOOKWORM, 0);
    const d = new LedDisplay({ pins: LED_PINS, statusPin: STATUS_PIN, sysfsRoot: join(dir, 'nope'), Gpio: bus.Gpio });
    await expect(d.start()).rejects.toThrow(/no sysfs GPIO/);
  });
});
