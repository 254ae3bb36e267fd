/**
 * YAML for the few files that may be written in it (province profiles, destination files),
 * loaded on first use: the hub reads such a file at most at start-up, and the package costs
 * ~9 MiB of every hub's memory if imported up front.
 */
import { createRequire } from 'node:module';

let yaml: typeof import('yaml') | undefined;

export function parseYaml(text: string): unknown {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text);
}
