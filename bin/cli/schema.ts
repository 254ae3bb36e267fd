/** `haochaping schema`: the JSON Schema of every message, for integrators. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { MESSAGE_SCHEMAS } from '../../protocol/index.js';

export function register(program: Command): void {
  program
    .command('schema')
    .description('write the JSON Schema of every message for integrators')
    .option('--out <dir>', 'output directory', 'schema')
    .action((o) => {
      mkdirSync(o.out, { recursive: true });
      for (const [kind, schema] of Object.entries(MESSAGE_SCHEMAS)) {
        const file = join(o.out, `${kind}.schema.json`);
        writeFileSync(file, JSON.stringify(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), null, 2) + '\n');
        console.log(`wrote ${file}`);
      }
    });
}
