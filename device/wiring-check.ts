/**
 * `haochaping device check`: for the installer at the window, before enrolment. Starts only the
 * chosen button and display drivers, prints every press and fault as a line, and cycles the
 * display through every screen so each LED pattern / panel screen can be seen once.
 * A panel that takes seconds per refresh (e-paper) is waited for: every screen is drawn in turn,
 * each held `everyMs` after it is on the glass.
 */
import type { ButtonDriver } from './buttons/types.js';
import type { DisplayDriver } from './display/types.js';
import { demoFrames } from './display/demo-frames.js';

/** A display that can say when what it was shown is really drawn (e-paper). */
interface SlowDisplay {
  idle(): Promise<void>;
  on(event: 'refreshed', l: (r: { screen: string; kind: string; bytes: number }) => void): unknown;
}
const isSlow = (d: DisplayDriver): d is DisplayDriver & SlowDisplay => typeof (d as Partial<SlowDisplay>).idle === 'function';

export async function startWiringCheck(
  buttons: ButtonDriver,
  display: DisplayDriver,
  print: (line: string) => void,
  everyMs = 3000,
): Promise<() => Promise<void>> {
  await display.start();
  const frames = Object.values(demoFrames());
  let i = 0;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const next = async () => {
    const f = frames[i++ % frames.length]!;
    display.show(f);
    print(`display: ${f.screen}`);
    if (isSlow(display)) await display.idle();
    if (!stopped) timer = setTimeout(() => void next(), everyMs);
  };
  if (isSlow(display)) display.on('refreshed', (r) => print(`display: ${r.screen} drawn (${r.kind} refresh, ${r.bytes} bytes over SPI)`));
  buttons.on('press', (b) => print(`button ${b + 1} pressed`));
  buttons.on('fault', (f, d) => print(`fault ${f}${d ? `: ${d}` : ''}`));
  buttons.on('recover', (f) => print(`cleared ${f}`));
  buttons.on('count', (c) => print(`counted ${c}`));
  display.on?.('fault', (f) => print(`display fault ${f}`));
  display.on?.('recover', (f) => print(`display cleared ${f}`));
  void next();
  await buttons.start();
  print(`reading ${buttons.count} buttons with the ${buttons.name} driver; press each once, left to right (Ctrl-C ends)`);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await buttons.stop();
    await display.stop();
  };
}
