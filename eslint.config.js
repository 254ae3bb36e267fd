// The project's lint: the dependency rules between parts (docs/architecture.md) and a small set
// of correctness rules. Formatting is Prettier's (npm run format), not ESLint's.
import tseslint from 'typescript-eslint';

/** An import of one part from another it must not know. */
const part = (name, why) => ({ group: [`**/${name}/**`, `**/${name}`], message: why });
const HUB = part('hub', 'the hub is a separate program: share code through common/ or protocol/');
const DEVICE = part('device', 'the device agent is a separate program: share code through common/ or protocol/');
const SIMULATOR = part('simulator', 'production code never depends on the simulator');
const BIN = part('bin', 'the CLI is the top: nothing imports it');
const COMMON = part('common', 'protocol/ is the contract: it depends on nothing of ours');
/** Packages only the hub runs: an evaluator process must never load them (memory on a Pi Zero). */
const HUB_PACKAGES = ['aedes', 'aedes-*', 'fastify', '@fastify/*', 'fastify-*', 'prom-client', 'chart.js', 'playwright-core'].map((p) => ({
  group: [p],
  message: 'a hub-only package: the device agent must not load it',
}));

const restrict = (files, patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'artifacts/**', 'release/**', 'schema/**', 'test/fixtures/**', 'hub/web/static/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-debugger': 'error',
      'no-control-regex': 'error',
      'no-dupe-keys': 'error',
      'no-self-assign': 'error',
      'no-unreachable': 'error',
      'no-unsafe-finally': 'error',
      'no-cond-assign': ['error', 'except-parens'],
      eqeqeq: ['error', 'smart'],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  restrict(['protocol/**/*.ts'], [HUB, DEVICE, SIMULATOR, BIN, COMMON]),
  restrict(['common/**/*.ts'], [HUB, DEVICE, SIMULATOR, BIN]),
  restrict(['device/**/*.ts', 'bin/cli/device.ts'], [HUB, SIMULATOR, BIN, ...HUB_PACKAGES]),
  restrict(['hub/**/*.ts'], [DEVICE, SIMULATOR, BIN]),
  restrict(['simulator/**/*.ts'], [BIN]),
);
