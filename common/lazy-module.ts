/**
 * A CommonJS package loaded on first use (synchronously), not when the importing module loads:
 * for packages a process may never need (issue 14: the agent's and the hub's memory).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
