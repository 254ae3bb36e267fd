/**
 * What a `device run` process loads (issue 14: an evaluator is a Pi with 512 MB). The process
 * runs from dist/ with a module tracer (test/fixtures/module-trace.mjs: every ESM and CommonJS
 * module it loads, one line each) until it is serving, then the list is checked: none of the
 * hub, its web page, the broker, the simulator, and only the chosen hardware driver's packages.
 * Resident memory is the benchmark's business (bench/device-latency.ts), not a test's.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, stopProcess } from '../../simulator/processes.js';
import { TestHall } from '../helpers/hall.js';
import { openHardwareEnd, ptyPair } from '../helpers/pty.js';
import { waitFor } from '../helpers/wait.js';

const TRACER = join(import.meta.dirname, '../fixtures/module-trace.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'hcp-devmods-'));
let hall: TestHall;
beforeAll(async () => {
  hall = await TestHall.start();
});
afterAll(async () => {
  await hall?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Our own code by part (dist/hub/…) and packages by name, from the traced file URLs. */
function parts(trace: string): { ours: Set<string>; packages: Set<string> } {
  const ours = new Set<string>();
  const packages = new Set<string>();
  for (const url of new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean))) {
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (pkg) packages.add(pkg[1]!);
    const own = /\/dist\/([^/]+)\//.exec(url);
    if (!pkg && own) ours.add(own[1]!);
  }
  return { ours, packages };
}

/** Code a device must never carry: the hall server's parts and packages only they use. */
const HUB_ONLY = [
  'aedes',
  'fastify',
  '@fastify/static',
  '@fastify/swagger',
  '@fastify/cookie',
  'prom-client',
  'undici',
  'chart.js',
  'playwright-core',
];
/** Packages of drivers and tools that are loaded only when chosen. */
const DRIVER_PACKAGES = ['serialport', 'johnny-five', 'firmata-io', 'onoff', 'spi-device', '@resvg/resvg-js', 'qrcode'];

async function runTraced(name: string, args: string[], ready: (out: () => string) => Promise<unknown>): Promise<ReturnType<typeof parts>> {
  const { dir } = await hall.enrolDevice(name);
  const trace = join(tmp, `${name}.modules`);
  const child = spawn(
    process.execPath,
    ['--import', TRACER, CLI_PATH, 'device', 'run', '--data', dir, '--clock-synced', 'yes', '--log-level', 'warn', ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HCP_MODULE_TRACE: trace },
    },
  );
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  try {
    await ready(() => out);
    expect(existsSync(trace)).toBe(true);
    return parts(trace);
  } finally {
    await stopProcess(child, 'SIGTERM');
  }
}

describe('a device run process loads only the agent', () => {
  it('never loads hub, web, broker or simulator code, nor any hardware driver package, with the simulator control channel', async () => {
    const { ours, packages } = await runTraced('31', ['--control', 'stdio'], (out) =>
      // Serving and connected to the hub: the link's code has run, not only loaded.
      waitFor(() => /"ev":"ready"/.test(out()) && /"ev":"link","connected":true/.test(out()), 'the agent ready and connected', 20_000),
    );
    expect(ours.has('device')).toBe(true); // the tracer sees the agent itself
    expect(packages.has('better-sqlite3')).toBe(true);
    expect(packages.has('mqtt')).toBe(true);
    expect([...ours].filter((p) => ['hub', 'simulator'].includes(p))).toEqual([]);
    expect([...packages].filter((p) => HUB_ONLY.includes(p))).toEqual([]);
    expect([...packages].filter((p) => DRIVER_PACKAGES.includes(p))).toEqual([]);
    // mqtt.js's other transports (WebSocket, SOCKS) are not needed for mqtt:// and mqtts://
    expect([...packages].filter((p) => ['ws', 'socks'].includes(p))).toEqual([]);
  }, 60_000);

  it('loads serialport when the keypad and panel are serial, and no other driver', async () => {
    const kp = await ptyPair(tmp, 'kp');
    const dp = await ptyPair(tmp, 'dp');
    const panel = await openHardwareEnd(dp.hardware);
    try {
      const { ours, packages } = await runTraced(
        '32',
        ['--buttons', 'serial', '--keypad-port', kp.device, '--display', 'serial', '--display-port', dp.device],
        () => waitFor(() => panel.lines.some((l) => / prompt$/.test(l)), 'the prompt on the serial panel', 20_000),
      );
      expect(packages.has('serialport')).toBe(true);
      expect([...packages].filter((p) => DRIVER_PACKAGES.includes(p) && p !== 'serialport')).toEqual([]);
      expect([...ours].filter((p) => ['hub', 'simulator'].includes(p))).toEqual([]);
      expect([...packages].filter((p) => HUB_ONLY.includes(p))).toEqual([]);
    } finally {
      await panel.close();
      await kp.close();
      await dp.close();
    }
  }, 60_000);

  it('compiles none of its code with the optimising compiler: the V8 flags hold before the module graph loads', async () => {
    // --trace-opt prints every function V8 marks or compiles with TurboFan. With --no-opt set only
    // after the agent's ~300 modules were fetched and linked, ~20 functions of the loader were
    // compiled (and ~5 MiB resident). No module tracer here: it runs before any flag can be set.
    const { dir } = await hall.enrolDevice('33');
    const child = spawn(
      process.execPath,
      ['--trace-opt', CLI_PATH, 'device', 'run', '--data', dir, '--clock-synced', 'yes', '--log-level', 'warn', '--control', 'stdio'],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HCP_V8_FLAGS_MARK: '1' } },
    );
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    try {
      await waitFor(() => /"ev":"ready"/.test(out) && /"ev":"link","connected":true/.test(out), 'the agent ready and connected', 20_000);
    } finally {
      await stopProcess(child, 'SIGTERM');
    }
    // Node's own start-up (commander, the path module) runs before any runtime flag can be set and
    // may get hot enough on some paths: only decisions taken after the flags count.
    const lines = out.split('\n');
    const set = lines.indexOf('hcp: v8 flags set');
    expect(set, 'the flags were set').toBeGreaterThanOrEqual(0);
    expect(lines.slice(set).filter((l) => /^\[marking .*TURBOFAN|^\[compiling method .*TURBOFAN/.test(l))).toEqual([]);
    // And the flags come before the agent's module graph: set after it (as they once were), ~20
    // functions of the loader were optimised; Node's start-up alone has made at most one here.
    expect(lines.filter((l) => /^\[completed optimizing/.test(l)).length).toBeLessThanOrEqual(3);
  }, 60_000);
});
