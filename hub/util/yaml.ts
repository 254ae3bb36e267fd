/**
 * YAML for the few files that may be written in it (province profiles, destination files),
 * loaded on first use: the hub reads such a file at most at start-up, and the package costs
 * ~9 MiB of every hub's memory if imported up front.
 */
import { lazyModule } from '../../common/lazy-module.js';

const yaml = lazyModule<typeof import('yaml')>('yaml');

export function parseYaml(text: string): unknown {
  return yaml().parse(text);
}
