/**
 * The hub broker's persistence (hub/broker/persistence.ts) answers a subscription's retained
 * messages from a map for an exact topic and with aedes' stock search for a wildcard: the same
 * messages as the stock persistence, whatever the subscriptions. Real aedes, real mqtt.js
 * clients; every scenario runs against both persistences and the answers are compared.
 */
import { createServer, type Server } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { hubPersistence } from '../../hub/broker/persistence.js';

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c();
  closers = [];
});

async function broker(persistence: AedesOptions['persistence']): Promise<number> {
  const aedes = await Aedes.createBroker({ concurrency: 0, ...(persistence ? { persistence } : {}) });
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => aedes.close(() => server.close(() => r()))));
  return (server.address() as { port: number }).port;
}

async function client(port: number) {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  closers.push(() => c.endAsync());
  return c;
}

/** What a fresh subscriber to `patterns` (one SUBSCRIBE) is given as retained, sorted. */
async function retainedFor(port: number, patterns: string[]): Promise<string[]> {
  const c = await client(port);
  const got: string[] = [];
  c.on('message', (topic, payload, packet) => {
    if (packet.retain) got.push(`${topic}=${payload.toString()}`);
  });
  await c.subscribeAsync(patterns, { qos: 1 });
  await new Promise((r) => setTimeout(r, 150));
  await c.endAsync();
  return got.sort();
}

async function scenario(port: number): Promise<Record<string, string[]>> {
  const pub = await client(port);
  const put = (topic: string, payload: string) => pub.publishAsync(topic, payload, { qos: 1, retain: true });
  await put('hall-1/ev-001/status', 'online-1');
  await put('hall-1/ev-002/status', 'online-2');
  await put('hall-1/ev-001/config', 'config-1a');
  await put('hall-1/ev-001/config', 'config-1b'); // replaced
  await put('hall-1/ev-002/config', 'config-2');
  await put('hall-1/ev-002/config', ''); // cleared
  await put('hall-2/ev-009/status', 'online-9');
  const out: Record<string, string[]> = {};
  for (const patterns of [
    ['hall-1/ev-001/status'],
    ['hall-1/ev-001/config'],
    ['hall-1/ev-002/config'],
    ['hall-1/ev-003/ack'],
    ['hall-1/ev-001/ack', 'hall-1/ev-001/config', 'hall-1/ev-001/session'],
    ['hall-1/+/status'],
    ['hall-1/#'],
    ['hall-1/ev-001/status', 'hall-1/+/config', 'hall-2/#'],
    ['#'],
  ])
    out[patterns.join(' ')] = await retainedFor(port, patterns);
  return out;
}

it('gives a subscriber the same retained messages as the stock persistence, for exact and wildcard patterns alike', async () => {
  const stock = await scenario(await broker(undefined));
  const hub = await scenario(await broker(hubPersistence()));
  expect(hub).toEqual(stock);
  // And what that is, spelled out for the patterns a device subscribes to:
  expect(hub['hall-1/ev-001/status']).toEqual(['hall-1/ev-001/status=online-1']);
  expect(hub['hall-1/ev-001/config']).toEqual(['hall-1/ev-001/config=config-1b']);
  expect(hub['hall-1/ev-002/config']).toEqual([]);
  expect(hub['hall-1/ev-001/ack hall-1/ev-001/config hall-1/ev-001/session']).toEqual(['hall-1/ev-001/config=config-1b']);
  expect(hub['hall-1/+/status']).toEqual(['hall-1/ev-001/status=online-1', 'hall-1/ev-002/status=online-2']);
  expect(hub['#']).toHaveLength(4);
});
