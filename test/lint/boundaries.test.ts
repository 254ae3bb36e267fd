/**
 * The dependency rules between parts are enforced by the lint (eslint.config.js), not only
 * drawn in docs/architecture.md: a forbidden import fails `npm test`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const fixture = readFileSync(join(root, 'test/fixtures/lint/forbidden-imports.ts.txt'), 'utf8');

async function forbidden(text: string, filePath: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: root }).lintText(text, { filePath: join(root, filePath) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message.split("'")[1]!);
}

describe('the lint enforces the boundaries between parts', () => {
  it('device code may not import the hub, the simulator or a hub-only package; zod is fine', async () => {
    expect(await forbidden(fixture, 'device/fixture.ts')).toEqual(['../hub/hub.js', '../simulator/sim.js', 'fastify']);
  });

  it('the device CLI module is held to the device rules (it is all a device run loads)', async () => {
    expect(await forbidden(fixture, 'bin/cli/device.ts')).toEqual(['../hub/hub.js', '../simulator/sim.js', 'fastify']);
  });

  it('hub code may not import the device agent or the simulator, but may use fastify', async () => {
    const text =
      "import { Agent } from '../device/agent.js';\nimport { runSim } from '../simulator/sim.js';\nimport Fastify from 'fastify';\nexport const all = [Agent, runSim, Fastify];\n";
    expect(await forbidden(text, 'hub/fixture.ts')).toEqual(['../device/agent.js', '../simulator/sim.js']);
  });

  it('protocol/ depends on nothing of ours, not even common/', async () => {
    const text = "import { VERSION } from '../common/version.js';\nexport const v = VERSION;\n";
    expect(await forbidden(text, 'protocol/fixture.ts')).toEqual(['../common/version.js']);
  });

  it('tests and the simulator may use every part', async () => {
    expect(await forbidden(fixture, 'test/fixture.ts')).toEqual([]);
    expect(await forbidden(fixture, 'simulator/fixture.ts')).toEqual([]);
  });
});
