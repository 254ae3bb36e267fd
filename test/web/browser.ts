/**
 * Real headless Chromium (Debian's) driven by playwright-core, and helpers that look at the
 * rendered pixels rather than only the DOM.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { PNG } from 'pngjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = resolve('artifacts', 'screenshots');

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launch(viewport = { width: 1400, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'hcp-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as artifacts/screenshots/<name>.png and returns the PNG. */
export async function shoot(page: Page, name: string): Promise<Buffer> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const buf = await page.screenshot({ fullPage: true });
  writeFileSync(join(SCREENSHOTS, `${name}.png`), buf);
  return buf;
}

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/**
 * A screenshot of `el`. A live tile is replaced whole on every update (a device's connect and
 * its first status come a moment apart), so an element can leave the DOM mid-screenshot: the
 * locator is then resolved again and the picture taken of the new element.
 */
async function elementShot(el: Locator): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await el.screenshot();
    } catch (e) {
      if (attempt >= 5 || !/not attached to the DOM/.test((e as Error).message)) throw e;
    }
  }
}

/** The most common colour in a screenshot of `el` (its rendered background, for a badge). */
export async function dominantColour(el: Locator): Promise<Rgb> {
  const png = PNG.sync.read(await elementShot(el));
  const counts = new Map<number, number>();
  for (let i = 0; i < png.data.length; i += 4) {
    // Quantise a little so anti-aliasing does not split one colour into many.
    const key = ((png.data[i]! >> 3) << 10) | ((png.data[i + 1]! >> 3) << 5) | (png.data[i + 2]! >> 3);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const [key] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
  return { r: ((key >> 10) & 31) << 3, g: ((key >> 5) & 31) << 3, b: (key & 31) << 3 };
}

export const isRed = (c: Rgb) => c.r > 150 && c.g < 90 && c.b < 90;
export const isGreen = (c: Rgb) => c.g > 90 && c.r < 80 && c.b < 100 && c.g > c.r + 40;

/** Share of pixels in a region of a screenshot that are not (near) white: is anything drawn? */
export function inkShare(png: Buffer): number {
  const p = PNG.sync.read(png);
  let ink = 0;
  for (let i = 0; i < p.data.length; i += 4) if (p.data[i]! < 235 || p.data[i + 1]! < 235 || p.data[i + 2]! < 235) ink++;
  return ink / (p.width * p.height);
}
