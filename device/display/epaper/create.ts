import { EpaperDisplay, type EpaperOptions } from './epaper.js';
import { Ssd1680Display } from './ssd1680.js';
import { Uc8179Display } from './uc8179.js';

/** The driver for the controller family of `o.model`. */
export function createEpaperDisplay(o: EpaperOptions): EpaperDisplay {
  return o.model === 'uc8179' ? new Uc8179Display(o) : new Ssd1680Display(o);
}
