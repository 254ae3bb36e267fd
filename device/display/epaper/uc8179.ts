/**
 * UC8179 / UC8176-class controllers (UltraChip; GD7965 is the same part: Waveshare 7.5" V2
 * 800×480, Good Display GDEW075T7). In black/white (KW) mode, DTM1 0x10 holds the OLD image and
 * DTM2 0x13 the NEW one; a refresh drives each pixel by its old → new transition. BUSY is LOW
 * while the controller works.
 *
 * Command set used (datasheet names):
 *   0x01 PWR power setting · 0x06 BTST booster soft start · 0x04 PON power on · 0x02 POF
 *   0x00 PSR panel setting (0x1F: LUT from OTP, KW mode, scan up, shift right, booster on, no reset)
 *   0x61 TRES resolution (HRES, VRES: 2 bytes each) · 0x15 DUSPI (0x00: single SPI)
 *   0x50 CDI VCOM and data interval (byte 1: BDV 01, N2OCP 1 = copy NEW to OLD after each
 *   refresh, DDX 00 = a 1 bit is black; byte 2: interval) · 0x60 TCON
 *   0x90 PTL partial window (HRST, HRED, VRST, VRED: 2 bytes each, PT_SCAN) · 0x91 PTIN · 0x92 PTOUT
 *   0xE0 CCSET (bit 1 TSFIX: take the temperature from 0xE5) · 0xE5 TSSET: a forced temperature
 *   selects the OTP's fast waveform for partial updates
 *   0x12 DRF display refresh · 0x07 DSLP deep sleep (check code 0xA5)
 */
import type { Bitmap } from '../bitmap.js';
import { boxBytes, EpaperDisplay, wholeBox, type Box } from './epaper.js';

export const UC_CDI = [0x18, 0x07];

export class Uc8179Display extends EpaperDisplay {
  protected readonly busyLevel = 0 as const;
  protected readonly supportsPartial = true;

  protected async init(): Promise<void> {
    await this.command(0x01, [0x07, 0x07, 0x3f, 0x3f]);
    await this.command(0x06, [0x17, 0x17, 0x28, 0x17]);
    await this.command(0x04);
    await this.waitIdle();
    await this.command(0x00, [0x1f]);
    await this.command(0x61, [this.width >> 8, this.width & 0xff, this.height >> 8, this.height & 0xff]);
    await this.command(0x15, [0x00]);
    await this.command(0x50, UC_CDI);
    await this.command(0x60, [0x22]);
  }

  protected async full(img: Bitmap): Promise<void> {
    await this.command(0xe0, [0x00]); // the real temperature: the full (clean) waveform
    await this.command(0x13, boxBytes(img, wholeBox(img)));
    this.transferred();
    await this.command(0x12);
    await this.waitIdle();
  }

  protected async partial(img: Bitmap, box: Box): Promise<void> {
    await this.command(0xe0, [0x02]);
    await this.command(0xe5, [0x6e]);
    await this.command(0x91);
    await this.command(0x90, [
      box.x0 >> 8,
      box.x0 & 0xff,
      box.x1 >> 8,
      box.x1 & 0xff,
      box.y0 >> 8,
      box.y0 & 0xff,
      box.y1 >> 8,
      box.y1 & 0xff,
      0x01,
    ]);
    await this.command(0x13, boxBytes(img, box));
    this.transferred();
    await this.command(0x12);
    await this.waitIdle();
    await this.command(0x92);
  }

  protected async sleep(): Promise<void> {
    await this.command(0x02);
    await this.waitIdle();
    await this.command(0x07, [0xa5]);
  }
}
