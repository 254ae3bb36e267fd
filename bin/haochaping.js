#!/usr/bin/env node
// The `haochaping` command. It runs the compiled JavaScript in dist/ (built by `npm ci`
// through the prepare script, or by `npm run build`).
import { existsSync } from 'node:fs';

const main = new URL('../dist/bin/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('haochaping is not built yet: run `npm run build` in the project directory');
  process.exit(2);
}
await import(main.href);
