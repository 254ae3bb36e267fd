import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The unit lane: pure logic (protocol, rating flow, policies, calendars, profiles, machines,
 * the lint's boundaries). It needs no root, no Debian package, no port and no build:
 * `npm run test:unit`. Everything else is the system lane (`npm run test:system`): real brokers,
 * hubs, processes, ptys, Chromium. A new test file is in the system lane unless listed here.
 */
export const UNIT = [
  'test/protocol/**/*.test.ts',
  'test/common/**/*.test.ts',
  'test/hub/http-errors.test.ts',
  'test/lint/**/*.test.ts',
  'test/device/rating-flow*.test.ts',
  'test/device/epaper-options.test.ts',
  'test/forwarder/{flag-mapping,outcome,profiles}.test.ts',
  'test/hub/{attribution,deadline,device-status,flag-decision,flag-policy,secrets,voice-settings}.test.ts',
  'test/sim/{account,citizens,plan}.test.ts',
  'test/web/{hall-input,misuse,workorder-handoff,workorder-machine,workorder-store}.test.ts',
  'test/citizen/citizen-unit.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start brokers, hubs and child processes; two cores do not like many at once.
    fileParallelism: true,
    maxWorkers: 2,
    // A worker runs file after file in one process instead of a fresh one per file: each system
    // file re-imported the hub's module graph (fastify, aedes, pino, zod…), ~0.9 s a file, 97 s of
    // the system lane's 1,150 worker-seconds (573 → 493 s; the unit lane 19 → 9 s). The tests
    // share no module state: each starts its own hubs on its own ports and directories, and a file
    // that leaves process.env, fake timers or the working directory changed fails
    // (test/helpers/shared-worker.ts).
    isolate: false,
    setupFiles: ['test/helpers/shared-worker.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'system',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT],
        },
      },
    ],
  },
});
