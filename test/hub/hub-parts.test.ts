/**
 * The hub as an ordered list of parts (hub/hub.ts, common/lifecycle.ts), started for real:
 * a part that fails to start takes the parts before it down again — nothing keeps listening,
 * the database is closed — and its error is what startHub throws; a part that fails to stop
 * does not keep the others (the broker, the HTTP listener, the database) running.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Part } from '../../common/lifecycle.js';
import { HUB_PARTS, startHub } from '../../hub/hub.js';
import { freePort } from '../../simulator/processes.js';
import { captureLog } from '../helpers/log.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** Wraps every part so the test sees the order of starts and stops. */
function recording(calls: string[], change: (parts: Part[]) => Part[] = (p) => p) {
  return (parts: Part[]) =>
    change(parts).map((p): Part => ({
      name: p.name,
      start: async () => {
        calls.push(`start ${p.name}`);
        await p.start();
      },
      stop: async () => {
        calls.push(`stop ${p.name}`);
        await p.stop();
      },
    }));
}

async function config() {
  dir = mkdtempSync(join(tmpdir(), 'hcp-parts-'));
  const ports = { mqtt: await freePort(), http: await freePort() };
  return {
    ports,
    input: {
      dataDir: join(dir, 'hub'),
      hall: 'parts-hall',
      mqtt: { host: '127.0.0.1', port: ports.mqtt },
      http: { host: '127.0.0.1', port: ports.http },
    },
  };
}

describe('the hub starts and stops as an ordered list of parts', () => {
  it('starts its parts in order and stops them in reverse', async () => {
    const { input, ports } = await config();
    const calls: string[] = [];
    const hub = await startHub(input, captureLog('warn').log, { parts: recording(calls) });
    expect(calls).toEqual(HUB_PARTS.map((n) => `start ${n}`));
    expect(await listening(ports.mqtt)).toBe(true);
    expect(await listening(ports.http)).toBe(true);
    await hub.close();
    expect(calls.slice(HUB_PARTS.length)).toEqual([...HUB_PARTS].reverse().map((n) => `stop ${n}`));
    expect(await listening(ports.mqtt)).toBe(false);
    expect(await listening(ports.http)).toBe(false);
  });

  it('a part that fails to start: the parts before it are stopped, nothing is listening, the database is closed, its error surfaces', async () => {
    const { input, ports } = await config();
    const calls: string[] = [];
    const boom: Part = {
      name: 'boom',
      start: () => {
        throw new Error('the boom part cannot start');
      },
      stop: () => {},
    };
    // After the last part, so the broker and the HTTP listener were both up when it failed.
    const log = captureLog('info');
    await expect(startHub(input, log.log, { parts: recording(calls, (p) => [...p, boom]) })).rejects.toThrow('the boom part cannot start');
    expect(calls).toEqual([
      ...HUB_PARTS.map((n) => `start ${n}`),
      'start boom',
      'stop boom',
      ...[...HUB_PARTS].reverse().map((n) => `stop ${n}`),
    ]);
    expect(await listening(ports.mqtt)).toBe(false);
    expect(await listening(ports.http)).toBe(false);
    expect(log.find('hub ready')).toEqual([]);
    expect(log.find('did not stop cleanly')).toEqual([]);
    // The hub let go of its database: SQLite removes the write-ahead log when the last connection closes.
    expect(existsSync(join(input.dataDir, 'hub.db'))).toBe(true);
    expect(existsSync(join(input.dataDir, 'hub.db-wal'))).toBe(false);
  });

  it('a part that fails in the middle of the start: only the parts before it started, and they are stopped', async () => {
    const { input, ports } = await config();
    const calls: string[] = [];
    // The broker's start throws after the broker part itself did (the HTTP part never starts).
    const log = captureLog('info');
    const failing = (parts: Part[]) =>
      parts.map((p) =>
        p.name === 'broker'
          ? {
              name: p.name,
              start: async () => {
                await p.start();
                throw new Error('the broker part failed after listening');
              },
              stop: () => p.stop(),
            }
          : p,
      );
    await expect(startHub(input, log.log, { parts: recording(calls, failing) })).rejects.toThrow('the broker part failed after listening');
    const upTo = HUB_PARTS.indexOf('broker');
    expect(calls).toEqual([
      ...HUB_PARTS.slice(0, upTo + 1).map((n) => `start ${n}`),
      ...HUB_PARTS.slice(0, upTo + 1)
        .reverse()
        .map((n) => `stop ${n}`),
    ]);
    expect(await listening(ports.mqtt)).toBe(false);
    expect(await listening(ports.http)).toBe(false);
    // The HTTP part never ran: the file that tells hall IT's commands where the hub listens was never written.
    expect(existsSync(join(input.dataDir, 'hub.url'))).toBe(false);
  });

  it('a part that throws on stop: the others still stop (broker, HTTP, database) and the error is logged with { err }', async () => {
    const { input, ports } = await config();
    const calls: string[] = [];
    const stubborn: Part = {
      name: 'stubborn',
      start: () => {},
      stop: () => {
        throw new Error('the stubborn part cannot stop');
      },
    };
    // Between ingest and the broker: parts on both sides of it must still stop.
    const log = captureLog('info');
    const hub = await startHub(input, log.log, {
      parts: recording(calls, (p) => {
        const i = p.findIndex((x) => x.name === 'broker');
        return [...p.slice(0, i), stubborn, ...p.slice(i)];
      }),
    });
    await hub.close();
    const stops = calls.filter((c) => c.startsWith('stop '));
    expect(stops).toHaveLength(HUB_PARTS.length + 1);
    expect(stops.at(-1)).toBe('stop store');
    expect(await listening(ports.mqtt)).toBe(false);
    expect(await listening(ports.http)).toBe(false);
    expect(hub.db.open).toBe(false);
    const err = log.find('did not stop cleanly');
    expect(err).toEqual([
      expect.objectContaining({ part: 'stubborn', err: expect.objectContaining({ message: 'the stubborn part cannot stop' }) }),
    ]);
    expect(log.find('hub stopped')).toHaveLength(1);
  });
});
