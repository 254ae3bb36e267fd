/**
 * An e-paper module at the lowest seam: a fake spidev (what the SPI opener returns) and fake
 * sysfs GPIO lines (onoff's surface, as for the buttons and LEDs). Every SPI transfer and every
 * line change is journalled, and a controller model written from the datasheets — not from the
 * driver — replays the stream as the chip would: command bytes while DC is low, parameters and
 * RAM data while DC is high, the RAM address counters and windows, the refresh commands, BUSY.
 * What the glass shows after each refresh is kept as a 1-bit image (set bit = black), so a test
 * can compare it with the renderer's bitmap.
 *
 * SSD1680/SSD1683 (Solomon Systech datasheet, "Command Table"):
 *   0x12 SW reset (BUSY high ~ms; registers to default) · 0x01 driver output control: MUX = A+1
 *   gate lines · 0x11 data entry: bit0 X increment, bit1 Y increment, bit2 AM (0: X first)
 *   · 0x44 X window start/end (in bytes) · 0x45 Y window start/end (2 bytes each) · 0x4E X counter
 *   · 0x4F Y counter · 0x24 B/W RAM, 0x26 RED RAM (bit 1 = white), data advance the counter
 *   within the window and wrap · 0x22 update control 2: bit 2 display, bit 3 display mode 2
 *   · 0x20 master activation (BUSY high until done) · 0x10 deep sleep. In mode 2 the waveform is
 *   chosen per pixel from RED (old) → B/W (new), so RED must equal the glass.
 * UC8179 (UltraChip datasheet): 0x00 PSR bit4 KW mode · 0x61 TRES · 0x50 CDI byte1 bit3 N2OCP
 *   (copy NEW to OLD after refresh), bits1:0 DDX (KW: DDX0 = 0 → a 1 bit is black) · 0x04 PON,
 *   0x02 POF (BUSY low while switching) · 0x10 DTM1 OLD · 0x13 DTM2 NEW, both row-major over the
 *   frame or, in partial mode, over the PTL window · 0x90 PTL (HRST[9:3], HRED, VRST, VRED,
 *   PT_SCAN) · 0x91 PTIN · 0x92 PTOUT · 0x12 DRF (BUSY low until done; needs PON) · 0x07 DSLP
 *   (check code 0xA5) · 0xE0 CCSET bit1 TSFIX, 0xE5 TSSET (fast waveform).
 */
import type { SpiOptions } from 'spi-device';
import type { SpiLike, SpiOpener } from '../../../device/display/epaper/spi.js';
import { blank, setPixel, type Bitmap } from '../../../device/display/bitmap.js';
import { FakeGpioBus, PI4_BOOKWORM } from './fake-sysfs-gpio.js';

export type Family = 'ssd' | 'uc';

export interface Refresh {
  kind: 'full' | 'partial';
  fast: boolean;
  /** Native pixel rectangle that was driven. */
  window: { x0: number; x1: number; y0: number; y1: number };
  glass: Bitmap;
}

export type JournalEntry = { t: number; spi: Uint8Array; dc: 0 | 1; speedHz: number } | { t: number; line: 'dc' | 'rst'; value: number };

const BASE = 512; // a Pi 4 on Bookworm: the header chip at 512

export interface FakePanelOptions {
  family: Family;
  width: number;
  height: number;
  pins: { dc: number; rst: number; busy: number };
  /** How long BUSY stays asserted for a refresh / other busy commands (ms). */
  refreshMs?: number;
}

export class FakeEpaperPanel {
  readonly bus = new FakeGpioBus(PI4_BOOKWORM, 0);
  readonly journal: JournalEntry[] = [];
  readonly refreshes: Refresh[] = [];
  /** Datasheet rules the driver broke (bytes while busy, refresh without power, …). */
  readonly errors: string[] = [];
  /** What the glass shows now (set bit = black). */
  glass: Bitmap;
  /** Make the next busy period never end (until a hardware reset). */
  stuck = false;
  transfers = 0;
  maxTransfer = 0;
  opened: { bus: number; device: number; options: SpiOptions } | null = null;
  sleeping = false;
  /** Transfer delay per byte (ms), to model the SPI clock in the bench. */
  nsPerByte = 0;

  private busyTimer: NodeJS.Timeout | null = null;
  private busyUntilReset = false;
  private cmd = -1;
  private params: number[] = [];
  private resetSeen = false;
  private readonly dcLine: number;
  private readonly rstLine: number;
  private readonly busyLine: number;
  readonly Gpio: typeof this.bus.Gpio;
  // SSD state
  private ram = { bw: new Uint8Array(0), red: new Uint8Array(0) };
  private ramStride = 0;
  private entry = 0x03;
  private win = { xs: 0, xe: 0, ys: 0, ye: 0 };
  private xc = 0;
  private yc = 0;
  private ctrl2 = 0;
  private mux = 0;
  // UC state
  private psr = 0;
  private tres = { w: 0, h: 0 };
  private cdi = [0, 0];
  private powered = false;
  private partialMode = false;
  private ptl = { hs: 0, he: 0, vs: 0, ve: 0 };
  private tsfix = false;
  private oldRam = new Uint8Array(0);
  private newRam = new Uint8Array(0);
  private ptr = 0;

  constructor(readonly o: FakePanelOptions) {
    this.dcLine = BASE + o.pins.dc;
    this.rstLine = BASE + o.pins.rst;
    this.busyLine = BASE + o.pins.busy;
    this.glass = blank(o.width, o.height);
    const panel = this;
    const Base = this.bus.Gpio;
    // onoff's class, with every write to DC and RST journalled (and RST edges seen by the chip).
    this.Gpio = class extends Base {
      override writeSync(value: number): void {
        super.writeSync(value);
        const gpio = (this as unknown as { gpio: number }).gpio;
        if (gpio === panel.dcLine) panel.journal.push({ t: performance.now(), line: 'dc', value });
        if (gpio === panel.rstLine) {
          panel.journal.push({ t: performance.now(), line: 'rst', value });
          panel.onRst(value);
        }
      }
    };
    this.powerOn();
  }

  get idleLevel(): 0 | 1 {
    return this.o.family === 'ssd' ? 0 : 1;
  }

  private powerOn(): void {
    const { width, height } = this.o;
    this.ramStride = Math.ceil(Math.max(width, 176) / 8);
    this.ram = {
      bw: new Uint8Array(this.ramStride * Math.max(height, 300)).fill(0x5a),
      red: new Uint8Array(this.ramStride * Math.max(height, 300)).fill(0xa5),
    };
    this.oldRam = new Uint8Array(Math.ceil(width / 8) * height).fill(0x3c);
    this.newRam = new Uint8Array(Math.ceil(width / 8) * height).fill(0xc3);
  }

  /** The SPI opener to inject: the driver's real SpiPort talks to this. */
  readonly open: SpiOpener = async (bus, device, options) => {
    this.opened = { bus, device, options };
    // BUSY is an input the module drives: idle once powered.
    if (!this.bus.lines.has(this.busyLine)) throw new Error('BUSY line not exported before SPI was opened');
    this.bus.set(this.busyLine, this.idleLevel);
    const dev: SpiLike = {
      transfer: (message, cb) => {
        let total = 0;
        for (const m of message) {
          const bytes = new Uint8Array(m.sendBuffer!.subarray(0, m.byteLength));
          total += bytes.length;
          this.transfers++;
          this.maxTransfer = Math.max(this.maxTransfer, bytes.length);
          const dc = (this.bus.electrical(this.dcLine) ?? 0) as 0 | 1;
          this.journal.push({ t: performance.now(), spi: bytes, dc, speedHz: m.speedHz ?? 0 });
          if (bytes.length > 4096) this.errors.push(`a ${bytes.length}-byte transfer is larger than spidev's 4096-byte buffer`);
          for (const b of bytes) this.byte(b, dc);
        }
        const ms = (total * this.nsPerByte) / 1e6;
        if (ms >= 1) setTimeout(() => cb(null, message), ms);
        else setImmediate(() => cb(null, message));
        return dev;
      },
      close: (cb) => setImmediate(() => cb(null)),
    };
    return dev;
  };

  /** Lines were exported by the driver; call after start() to arm BUSY. */
  private setBusy(ms: number): void {
    this.bus.set(this.busyLine, (1 - this.idleLevel) as 0 | 1);
    if (this.busyTimer) clearTimeout(this.busyTimer);
    if (this.stuck) {
      this.busyUntilReset = true;
      return;
    }
    this.busyTimer = setTimeout(() => {
      this.busyTimer = null;
      this.bus.set(this.busyLine, this.idleLevel);
    }, ms);
  }

  private get isBusy(): boolean {
    return this.bus.electrical(this.busyLine) !== this.idleLevel;
  }

  private onRst(value: number): void {
    if (value === 0) {
      // In reset: the controller stops whatever it did, BUSY released, registers to default.
      if (this.busyTimer) clearTimeout(this.busyTimer);
      this.busyTimer = null;
      this.busyUntilReset = false;
      if (this.bus.lines.has(this.busyLine)) this.bus.set(this.busyLine, this.idleLevel);
      this.cmd = -1;
      this.params = [];
      this.sleeping = false;
      this.powered = false;
      this.partialMode = false;
      this.entry = 0x03;
      this.resetSeen = true;
    }
  }

  private byte(b: number, dc: 0 | 1): void {
    if (this.isBusy) {
      this.errors.push(`byte 0x${b.toString(16)} sent while BUSY (command 0x${this.cmd.toString(16)})`);
      return;
    }
    if (!this.resetSeen) this.errors.push('SPI traffic before the first hardware reset');
    if (this.sleeping) {
      this.errors.push('SPI traffic in deep sleep (only a hardware reset wakes the controller)');
      return;
    }
    if (dc === 0) {
      this.finish();
      this.cmd = b;
      this.params = [];
      this.onCommand(b);
    } else if (this.cmd < 0) {
      this.errors.push('data byte with no command');
    } else {
      this.params.push(b);
      this.onData(b);
    }
  }

  // ——— command start (parameterless actions run now; the previous command's parameters apply first) ———
  private onCommand(c: number): void {
    if (this.o.family === 'ssd') {
      if (c === 0x12) {
        this.win = { xs: 0, xe: this.ramStride - 1, ys: 0, ye: this.o.height - 1 };
        this.entry = 0x03;
        this.setBusy(2);
      } else if (c === 0x20) this.ssdActivate();
      else if (c === 0x24 || c === 0x26) {
        /* RAM write starts at the counters */
      }
    } else {
      if (c === 0x04) {
        this.powered = true;
        this.setBusy(2);
      } else if (c === 0x02) {
        this.powered = false;
        this.setBusy(2);
      } else if (c === 0x10 || c === 0x13) this.ptr = 0;
      else if (c === 0x91) this.partialMode = true;
      else if (c === 0x92) this.partialMode = false;
      else if (c === 0x12) this.ucRefresh();
    }
  }

  private onData(b: number): void {
    const c = this.cmd;
    if (this.o.family === 'ssd' && (c === 0x24 || c === 0x26)) this.ssdRam(c, b);
    if (this.o.family === 'uc' && (c === 0x10 || c === 0x13)) this.ucRam(c, b);
  }

  /** A command's parameters are complete when the next command starts. */
  private finish(): void {
    const p = this.params;
    const c = this.cmd;
    if (c < 0) return;
    if (this.o.family === 'ssd') {
      if (c === 0x01) this.mux = (p[0]! | ((p[1]! & 1) << 8)) + 1;
      else if (c === 0x11) this.entry = p[0]! & 0x07;
      else if (c === 0x44) this.win = { ...this.win, xs: p[0]! & 0x3f, xe: p[1]! & 0x3f };
      else if (c === 0x45) this.win = { ...this.win, ys: p[0]! | ((p[1]! & 1) << 8), ye: p[2]! | ((p[3]! & 1) << 8) };
      else if (c === 0x4e) this.xc = p[0]! & 0x3f;
      else if (c === 0x4f) this.yc = p[0]! | ((p[1]! & 1) << 8);
      else if (c === 0x22) this.ctrl2 = p[0]!;
      else if (c === 0x10 && (p[0]! & 0x03) !== 0) this.sleeping = true;
    } else {
      if (c === 0x00) this.psr = p[0]!;
      else if (c === 0x61) this.tres = { w: (p[0]! << 8) | p[1]!, h: (p[2]! << 8) | p[3]! };
      else if (c === 0x50) this.cdi = [p[0]!, p[1]!];
      else if (c === 0x90)
        this.ptl = {
          hs: ((p[0]! << 8) | p[1]!) & 0x3f8,
          he: (((p[2]! << 8) | p[3]!) & 0x3f8) | 7,
          vs: ((p[4]! << 8) | p[5]!) & 0x3ff,
          ve: ((p[6]! << 8) | p[7]!) & 0x3ff,
        };
      else if (c === 0xe0) this.tsfix = (p[0]! & 0x02) !== 0;
      else if (c === 0x07) {
        if (p[0] === 0xa5) this.sleeping = true;
        else this.errors.push('deep sleep without check code 0xA5');
      }
    }
  }

  // ——— SSD1680 ———
  private ssdRam(c: number, b: number): void {
    const ram = c === 0x24 ? this.ram.bw : this.ram.red;
    ram[this.yc * this.ramStride + this.xc] = b;
    const xInc = (this.entry & 1) !== 0;
    const yInc = (this.entry & 2) !== 0;
    const stepX = () => {
      if (xInc ? this.xc >= this.win.xe : this.xc <= this.win.xe) {
        this.xc = this.win.xs;
        return true;
      }
      this.xc += xInc ? 1 : -1;
      return false;
    };
    const stepY = () => {
      if (yInc ? this.yc >= this.win.ye : this.yc <= this.win.ye) {
        this.yc = this.win.ys;
        return true;
      }
      this.yc += yInc ? 1 : -1;
      return false;
    };
    if ((this.entry & 4) === 0) {
      if (stepX()) stepY();
    } else if (stepY()) stepX();
  }

  private ssdImage(ram: Uint8Array): Bitmap {
    const img = blank(this.o.width, this.o.height);
    for (let y = 0; y < this.o.height; y++)
      for (let x = 0; x < this.o.width; x++) setPixel(img, x, y, (ram[y * this.ramStride + (x >> 3)]! & (0x80 >> (x & 7))) === 0);
    return img;
  }

  private ssdActivate(): void {
    this.finish(); // 0x20 has no parameters; 0x22's were applied when it arrived
    if ((this.ctrl2 & 0x04) === 0) {
      this.setBusy(1);
      return;
    }
    if (this.mux !== this.o.height) this.errors.push(`driver output control set ${this.mux} gate lines; the panel has ${this.o.height}`);
    const partial = (this.ctrl2 & 0x08) !== 0;
    if (partial) {
      const old = this.ssdImage(this.ram.red);
      const wrong = countDiff(old, this.glass);
      if (wrong)
        this.errors.push(
          `partial update with RED (previous) RAM differing from the glass in ${wrong} pixels: those pixels get the wrong waveform`,
        );
    }
    this.glass = this.ssdImage(this.ram.bw);
    this.refreshes.push({
      kind: partial ? 'partial' : 'full',
      fast: partial,
      window: { x0: 0, x1: this.o.width - 1, y0: 0, y1: this.o.height - 1 },
      glass: this.glass,
    });
    this.setBusy(this.o.refreshMs ?? 5);
  }

  // ——— UC8179 ———
  private ucRam(c: number, b: number): void {
    const stride = this.tres.w >> 3;
    const ram = c === 0x10 ? this.oldRam : this.newRam;
    if (this.partialMode) {
      const wBytes = (this.ptl.he - this.ptl.hs + 1) >> 3 || 1;
      const row = Math.floor(this.ptr / wBytes);
      const col = this.ptr % wBytes;
      const y = this.ptl.vs + row;
      if (y <= this.ptl.ve) ram[y * stride + (this.ptl.hs >> 3) + col] = b;
      else this.errors.push('more data than the partial window holds');
    } else if (this.ptr < stride * this.tres.h) ram[this.ptr] = b;
    else this.errors.push('more data than the frame holds');
    this.ptr++;
  }

  private ucImage(ram: Uint8Array): Bitmap {
    const img = blank(this.o.width, this.o.height);
    const stride = this.tres.w >> 3;
    const oneIsBlack = (this.cdi[0]! & 0x01) === 0;
    for (let y = 0; y < this.o.height; y++)
      for (let x = 0; x < this.o.width; x++) {
        const bit = (ram[y * stride + (x >> 3)]! & (0x80 >> (x & 7))) !== 0;
        setPixel(img, x, y, bit === oneIsBlack);
      }
    return img;
  }

  private ucRefresh(): void {
    this.finish();
    if (!this.powered) this.errors.push('display refresh without power on (PON)');
    if ((this.psr & 0x10) === 0) this.errors.push('refresh in KWR (red) mode: PSR bit 4 must select KW');
    if (this.tres.w !== this.o.width || this.tres.h !== this.o.height)
      this.errors.push(`resolution set to ${this.tres.w}×${this.tres.h}; the panel is ${this.o.width}×${this.o.height}`);
    const next = this.ucImage(this.newRam);
    const win = this.partialMode
      ? { x0: this.ptl.hs, x1: this.ptl.he, y0: this.ptl.vs, y1: this.ptl.ve }
      : { x0: 0, x1: this.o.width - 1, y0: 0, y1: this.o.height - 1 };
    if (this.partialMode) {
      const old = this.ucImage(this.oldRam);
      let wrong = 0;
      for (let y = win.y0; y <= win.y1; y++) for (let x = win.x0; x <= win.x1; x++) if (bit(old, x, y) !== bit(this.glass, x, y)) wrong++;
      if (wrong) this.errors.push(`partial refresh with OLD data differing from the glass in ${wrong} pixels`);
    }
    const glass = blank(this.o.width, this.o.height);
    glass.data.set(this.glass.data);
    for (let y = win.y0; y <= win.y1; y++) for (let x = win.x0; x <= win.x1; x++) setPixel(glass, x, y, bit(next, x, y));
    this.glass = glass;
    if ((this.cdi[0]! & 0x08) !== 0) this.oldRam.set(this.newRam);
    this.refreshes.push({ kind: this.partialMode ? 'partial' : 'full', fast: this.tsfix, window: win, glass });
    this.setBusy(this.o.refreshMs ?? 5);
  }

  /** The bytes sent while DC was high right after command `cmd`, in order (for protocol assertions). */
  commands(): number[] {
    return this.journal.filter((e): e is Extract<JournalEntry, { spi: Uint8Array }> => 'spi' in e && e.dc === 0).flatMap((e) => [...e.spi]);
  }

  close(): void {
    if (this.busyTimer) clearTimeout(this.busyTimer);
  }
}

function bit(b: Bitmap, x: number, y: number): boolean {
  return (b.data[y * b.stride + (x >> 3)]! & (0x80 >> (x & 7))) !== 0;
}

function countDiff(a: Bitmap, b: Bitmap): number {
  let n = 0;
  for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) if (bit(a, x, y) !== bit(b, x, y)) n++;
  return n;
}
