/**
 * What every SPI e-paper driver shares: the refresh loop (render → rotate → send), the choice
 * between a full and a partial refresh, BUSY handling and recovery. The controller families
 * (ssd1680.ts, uc8179.ts) supply only their command sequences.
 *
 * show() never waits: it records the frame and returns, so the agent's durable write of a
 * rating and the thank-you that follows it are never held up by a panel that takes seconds to
 * refresh. One refresh runs at a time; frames that arrive meanwhile collapse to the newest.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { SysfsGpioOptions } from '../../gpio/sysfs-chip.js';
import { logicalSize, toNative, type Bitmap, type Rotation } from '../bitmap.js';
import { renderBitmap } from '../render.js';
import type { DisplayDriver, Frame, Screen } from '../types.js';
import { GpiodPanelPins, SysfsPanelPins, type PanelPinNumbers, type PanelPins } from './pins.js';
import { SpiPort, type SpiOpener } from './spi.js';

export const DISPLAY_BUSY_TIMEOUT = 'display-busy-timeout';
export const DISPLAY_ERROR = 'display-error';

export { EPAPER_MODELS, MODEL_SIZES, type EpaperModel } from './models.js';
import { MODEL_SIZES, type EpaperModel } from './models.js';

export interface EpaperOptions {
  model: EpaperModel;
  /** Native size of the panel; defaults per model. */
  width?: number;
  height?: number;
  rotation?: Rotation;
  /** Large type, high contrast layout. */
  largeType?: boolean;
  pins: PanelPinNumbers;
  /** How the control lines are reached: sysfs (onoff) or the libgpiod tools. */
  gpio?: 'sysfs' | 'gpiod';
  sysfs?: SysfsGpioOptions;
  gpiodChip?: string;
  spi: { bus: number; device: number; speedHz: number; chunk?: number; open?: SpiOpener };
  /** BUSY longer than this is a stuck controller (ms). */
  busyTimeoutMs?: number;
  busyPollMs?: number;
  /** A full refresh after this many partial ones, against ghosting. */
  fullEvery?: number;
  /** After a failure, wait this long before resetting and trying again (ms). */
  retryMs?: number;
  log?: Logger;
}

export class BusyTimeoutError extends Error {
  override readonly name = 'BusyTimeoutError';
}

export interface RefreshInfo {
  screen: Screen;
  kind: 'full' | 'partial';
  /** Bytes of the update sent over SPI (commands and image). */
  bytes: number;
}

export interface Box {
  /** Native pixel columns [x0, x1], byte aligned (x0 % 8 == 0, x1 % 8 == 7), rows [y0, y1]. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Screens that get a full refresh every time: they stay up long, so they must be clean. */
const FULL_SCREENS: ReadonlySet<Screen> = new Set(['idle', 'paused', 'out-of-service']);

export abstract class EpaperDisplay
  extends EventEmitter<{ fault: [string]; recover: [string]; refreshed: [RefreshInfo]; transferred: [Screen] }>
  implements DisplayDriver
{
  readonly name = 'epaper';
  /** The BUSY level that means "working". */
  protected abstract readonly busyLevel: 0 | 1;
  protected abstract readonly supportsPartial: boolean;
  /** Hardware reset done: bring the controller up. */
  protected abstract init(): Promise<void>;
  protected abstract full(img: Bitmap): Promise<void>;
  protected abstract partial(img: Bitmap, box: Box): Promise<void>;
  protected abstract sleep(): Promise<void>;

  readonly width: number;
  readonly height: number;
  protected readonly spi: SpiPort;
  protected pins: PanelPins | null = null;
  private wanted: Frame | null = null;
  private onGlass: Bitmap | null = null;
  private partials = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private needInit = true;
  private faulted: string | null = null;
  private current: Screen | null = null;
  private wake: (() => void) | null = null;

  constructor(protected readonly o: EpaperOptions) {
    super();
    const size = MODEL_SIZES[o.model];
    this.width = o.width ?? size.width;
    this.height = o.height ?? size.height;
    if (this.width > size.maxWidth || this.height > size.maxHeight) {
      throw new Error(`a ${o.model} drives at most ${size.maxWidth}×${size.maxHeight} pixels; ${this.width}×${this.height} was given`);
    }
    this.spi = new SpiPort(o.spi);
  }

  /** The logical size screens are laid out at (after rotation). */
  get layoutSize(): { width: number; height: number } {
    return logicalSize(this.width, this.height, this.o.rotation ?? 0);
  }

  async start(): Promise<void> {
    this.pins =
      this.o.gpio === 'gpiod'
        ? await GpiodPanelPins.open(this.o.pins, { chip: this.o.gpiodChip ?? 'gpiochip0' })
        : await SysfsPanelPins.open(this.o.pins, this.o.sysfs ?? {});
    try {
      await this.spi.open();
    } catch (e) {
      await this.pins.close();
      this.pins = null;
      throw e;
    }
    this.running = true;
    this.needInit = true;
    if (this.wanted) this.kick();
  }

  show(frame: Frame): void {
    this.wanted = frame;
    this.kick();
  }

  /** Resolves when every frame shown so far is on the glass (or the driver stopped). */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private kick(): void {
    if (!this.running || this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      if (this.running && this.wanted) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.running && this.wanted) {
      const frame = this.wanted;
      this.wanted = null;
      try {
        const img = toNative(await renderBitmap(frame, { ...this.layoutSize, largeType: this.o.largeType }), this.o.rotation ?? 0);
        if (!this.running) return;
        if (this.needInit) {
          await this.reset();
          await this.init();
          this.needInit = false;
          this.onGlass = null;
        }
        const before = this.spi.bytes;
        const kind = this.chooseKind(frame.screen, img);
        this.current = frame.screen;
        if (kind === 'none') continue;
        if (kind.type === 'full') {
          await this.full(img);
          this.partials = 0;
        } else {
          await this.partial(img, kind.box);
          this.partials++;
        }
        this.onGlass = img;
        this.emit('refreshed', { screen: frame.screen, kind: kind.type, bytes: this.spi.bytes - before });
        this.cleared();
      } catch (e) {
        if (!this.running) return;
        const fault = e instanceof BusyTimeoutError ? DISPLAY_BUSY_TIMEOUT : DISPLAY_ERROR;
        this.o.log?.warn({ err: (e as Error).message, fault }, 'e-paper refresh failed; resetting the controller');
        if (this.faulted !== fault) {
          this.faulted = fault;
          this.emit('fault', fault);
        }
        // Recovery is a hardware reset and a full refresh of the newest frame.
        this.needInit = true;
        this.onGlass = null;
        this.wanted ??= frame;
        await this.pause(this.o.retryMs ?? 5000);
      }
    }
  }

  private cleared(): void {
    if (!this.faulted) return;
    const f = this.faulted;
    this.faulted = null;
    this.emit('recover', f);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private chooseKind(screen: Screen, img: Bitmap): 'none' | { type: 'full' } | { type: 'partial'; box: Box } {
    const before = this.onGlass;
    if (!before || !this.supportsPartial || FULL_SCREENS.has(screen) || this.partials >= (this.o.fullEvery ?? 8)) return { type: 'full' };
    const box = changedBox(before, img);
    return box ? { type: 'partial', box } : 'none';
  }

  /** RST low then high: the controller restarts from its power-on state. */
  protected async reset(): Promise<void> {
    const p = this.pins!;
    await p.setRst(0);
    await delay(10);
    await p.setRst(1);
    await delay(10);
    await this.waitIdle();
  }

  protected async command(cmd: number, data?: ArrayLike<number>): Promise<void> {
    const p = this.pins!;
    await p.setDc(0);
    await this.spi.write(Uint8Array.of(cmd));
    if (data && data.length) {
      await p.setDc(1);
      await this.spi.write(data instanceof Uint8Array ? data : Uint8Array.from(data));
    }
  }

  /** The image is in the controller's RAM: what the bench times up to. */
  protected transferred(): void {
    if (this.current) this.emit('transferred', this.current);
  }

  protected async waitIdle(timeoutMs = this.o.busyTimeoutMs ?? 15_000): Promise<void> {
    const p = this.pins!;
    const poll = this.o.busyPollMs ?? 5;
    const until = Date.now() + timeoutMs;
    while ((await p.busy()) === this.busyLevel) {
      if (!this.running) throw new Error('stopped');
      if (Date.now() > until) throw new BusyTimeoutError(`BUSY still ${this.busyLevel ? 'high' : 'low'} after ${timeoutMs} ms`);
      await delay(poll);
    }
  }

  async stop(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    this.wake?.();
    await this.loop?.catch(() => {});
    if (wasRunning && !this.needInit && this.pins) {
      // Deep sleep: a panel left powered for hours can be damaged, and a sleeping one keeps its image.
      this.running = true;
      try {
        // A refresh cut short by stop may still be running: the controller takes no command until it ends.
        await this.waitIdle();
        await this.sleep();
      } catch (e) {
        this.o.log?.warn({ err: (e as Error).message }, 'e-paper deep sleep failed');
      } finally {
        this.running = false;
      }
    }
    await this.spi.close();
    await this.pins?.close();
    this.pins = null;
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The byte-aligned rectangle where two native images differ, or null if they are the same. */
export function changedBox(a: Bitmap, b: Bitmap): Box | null {
  let y0 = -1;
  let y1 = -1;
  let c0 = Infinity;
  let c1 = -1;
  for (let y = 0; y < b.height; y++) {
    for (let c = 0; c < b.stride; c++) {
      const i = y * b.stride + c;
      if (a.data[i] === b.data[i]) continue;
      if (y0 < 0) y0 = y;
      y1 = y;
      if (c < c0) c0 = c;
      if (c > c1) c1 = c;
    }
  }
  if (y0 < 0) return null;
  return { x0: c0 * 8, x1: c1 * 8 + 7, y0, y1 };
}

/** The bytes of `img` inside `box`, row by row, with `map` applied to each (polarity). */
export function boxBytes(img: Bitmap, box: Box, map: (byte: number) => number = (b) => b): Uint8Array {
  const c0 = box.x0 >> 3;
  const c1 = box.x1 >> 3;
  const out = new Uint8Array((c1 - c0 + 1) * (box.y1 - box.y0 + 1));
  let k = 0;
  for (let y = box.y0; y <= box.y1; y++) for (let c = c0; c <= c1; c++) out[k++] = map(img.data[y * img.stride + c]!);
  return out;
}

export function wholeBox(img: Bitmap): Box {
  return { x0: 0, x1: img.stride * 8 - 1, y0: 0, y1: img.height - 1 };
}
