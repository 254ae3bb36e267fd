/**
 * SSD1680 / SSD1683-class controllers (Solomon Systech; Waveshare 2.13" V4, 2.9" V2, 4.2" V2
 * and the bare Good Display panels): black/white RAM 0x24 and a second RAM 0x26 that, in
 * display mode 2, holds the previous image so a partial update drives only the pixels that
 * change. BUSY is high while the controller works.
 *
 * Command set used (datasheet names):
 *   0x12 SW reset · 0x01 driver output control (gate lines − 1, 9 bits; scan direction 0)
 *   0x11 data entry mode (0x03: X then Y, both increasing) · 0x3C border waveform
 *   0x21 display update control 1 (0x00, 0x80: normal RAM, source S8–S167)
 *   0x18 temperature sensor (0x80: internal) · 0x44/0x45 RAM X (bytes) / Y (lines) window
 *   0x4E/0x4F RAM X/Y address counter · 0x24/0x26 write B/W / "red" (previous) RAM
 *   0x22 display update control 2 (0xF7: clock, analog, temperature, LUT, display mode 1,
 *   power off; 0xFF: the same with display mode 2 = partial) · 0x20 master activation
 *   0x10 deep sleep (0x01: keep RAM)
 * RAM bit 1 is white.
 */
import type { Bitmap } from '../bitmap.js';
import { boxBytes, EpaperDisplay, wholeBox, type Box } from './epaper.js';

const WHITE_IS_ONE = (b: number) => ~b & 0xff;

export const SSD_UPDATE_FULL = 0xf7;
export const SSD_UPDATE_PARTIAL = 0xff;

export class Ssd1680Display extends EpaperDisplay {
  protected readonly busyLevel = 1 as const;
  protected readonly supportsPartial = true;

  protected async init(): Promise<void> {
    await this.command(0x12);
    await this.waitIdle();
    const gates = this.height - 1;
    await this.command(0x01, [gates & 0xff, (gates >> 8) & 0x01, 0x00]);
    await this.command(0x11, [0x03]);
    await this.command(0x3c, [0x05]);
    await this.command(0x21, [0x00, 0x80]);
    await this.command(0x18, [0x80]);
    await this.waitIdle();
  }

  private async window(box: Box): Promise<void> {
    await this.command(0x44, [box.x0 >> 3, box.x1 >> 3]);
    await this.command(0x45, [box.y0 & 0xff, box.y0 >> 8, box.y1 & 0xff, box.y1 >> 8]);
    await this.command(0x4e, [box.x0 >> 3]);
    await this.command(0x4f, [box.y0 & 0xff, box.y0 >> 8]);
  }

  private async writeRam(ram: 0x24 | 0x26, img: Bitmap, box: Box): Promise<void> {
    await this.window(box);
    await this.command(ram, boxBytes(img, box, WHITE_IS_ONE));
  }

  protected async full(img: Bitmap): Promise<void> {
    const box = wholeBox(img);
    await this.writeRam(0x24, img, box);
    // The same image as "previous", so the next partial update starts from the truth.
    await this.writeRam(0x26, img, box);
    this.transferred();
    await this.command(0x22, [SSD_UPDATE_FULL]);
    await this.command(0x20);
    await this.waitIdle();
  }

  protected async partial(img: Bitmap, box: Box): Promise<void> {
    await this.writeRam(0x24, img, box);
    this.transferred();
    await this.command(0x22, [SSD_UPDATE_PARTIAL]);
    await this.command(0x20);
    await this.waitIdle();
    // Mode 2 compares against RAM 0x26: make it what the glass now shows.
    await this.writeRam(0x26, img, box);
  }

  protected async sleep(): Promise<void> {
    await this.command(0x10, [0x01]);
  }
}
