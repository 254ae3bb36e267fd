/** The e-paper controllers and their sizes: what `device run` checks options against without loading a driver. */
export const EPAPER_MODELS = ['ssd1680', 'ssd1683', 'uc8179'] as const;
export type EpaperModel = (typeof EPAPER_MODELS)[number];

/** Native size (source × gate lines) when none is given, and the largest the controller drives. */
export const MODEL_SIZES: Record<EpaperModel, { width: number; height: number; maxWidth: number; maxHeight: number }> = {
  ssd1680: { width: 122, height: 250, maxWidth: 176, maxHeight: 296 }, // 2.13", 2.9" (128×296)
  ssd1683: { width: 400, height: 300, maxWidth: 400, maxHeight: 300 }, // 4.2"
  uc8179: { width: 800, height: 480, maxWidth: 800, maxHeight: 600 }, // 7.5" (also 640×384 on UC8176-class)
};
