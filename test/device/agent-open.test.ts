/**
 * No I/O in the agent's constructor: Agent.open reads the data directory (enrolment, keys,
 * cached config) and opens the outbox; `new Agent` only wires what it is given, so building
 * one touches no file and no network until start().
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { loadOrCreateKeys } from '../../device/identity/keys.js';
import { Outbox } from '../../device/outbox/outbox.js';
import { defaultDeviceConfig } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

const options = (dataDir: string) => ({
  dataDir,
  buttons: new VirtualButtons(5),
  display: new VirtualDisplay(),
  log: silentLog(),
  clockSynced: () => true,
});

describe('the agent opens its files in Agent.open, not in its constructor', () => {
  it('Agent.open on a directory that was never enrolled says so and creates nothing', () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-agent-open-'));
    expect(() => Agent.open(options(dir))).toThrow(/is not enrolled; run "haochaping device enrol" first/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('new Agent with what open() would read touches no file: its data directory need not even exist', () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-agent-open-'));
    const outbox = new Outbox(join(dir, 'outbox.db'));
    const keys = loadOrCreateKeys(join(dir, 'keys'));
    const before = readdirSync(dir).sort();
    const nowhere = join(dir, 'not-there');
    const agent = new Agent(options(nowhere), {
      enrolment: {
        hall: 'h1',
        device: 'ev-1',
        window: '12',
        hubUrl: 'http://127.0.0.1:1',
        mqttUrl: 'mqtt://127.0.0.1:1',
        username: 'ev-1',
        password: 'x',
        ca: null,
        enrolledAt: 0,
      },
      keys,
      config: defaultDeviceConfig('h1', 'ev-1', '12'),
      outbox,
    });
    expect(agent.enrolment.device).toBe('ev-1');
    expect(existsSync(nowhere)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(before);
    outbox.close();
  });
});
