/**
 * `haochaping device check`: for the installer at the window, before enrolment. Starts only the
 * chosen button and display drivers, prints every press and fault as a line, and cycles the
 * display through every screen so each LED pattern / panel screen can be seen once.
 */
import type { ButtonDriver } from './buttons/types.js';
import type { DisplayDriver } from './display/types.js';
import { demoFrames } from './display/demo-frames.js';

export async function startWiringCheck(buttons: ButtonDriver, display: DisplayDriver, print: (line: string) => void, everyMs = 3000): Promise<() => Promise<void>> {
  await display.start();
  const frames = Object.values(demoFrames());
  let i = 0;
  const next = () => {
    const f = frames[i++ % frames.length]!;
    display.show(f);
    print(`display: ${f.screen}`);
  };
  next();
  const timer = setInterval(next, everyMs);
  buttons.on('press', (b) => print(`button ${b + 1} pressed`));
  buttons.on('fault', (f, d) => print(`fault ${f}${d ? `: ${d}` : ''}`));
  buttons.on('recover', (f) => print(`cleared ${f}`));
  buttons.on('count', (c) => print(`counted ${c}`));
  display.on?.('fault', (f) => print(`display fault ${f}`));
  await buttons.start();
  print(`reading ${buttons.count} buttons with the ${buttons.name} driver; press each once, left to right (Ctrl-C ends)`);
  return async () => {
    clearInterval(timer);
    await buttons.stop();
    await display.stop();
  };
}
