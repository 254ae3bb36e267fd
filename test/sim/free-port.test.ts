import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, PICKED_PORTS, portOr } from '../../simulator/processes.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((res) => s.close(res))));
});

function listen(port: number): Promise<Server> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => {
      servers.push(s);
      res(s);
    });
  });
}

describe('freePort', () => {
  it('hands out distinct ports below the range the OS gives to outgoing connections, each free to listen on', async () => {
    const [ephemeralFrom] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports: number[] = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(PICKED_PORTS.from);
      expect(p).toBeLessThan(Math.min(PICKED_PORTS.to, ephemeralFrom!));
      await listen(p); // throws EADDRINUSE if it was not free
    }
  });

  it('skips a port something already listens on, and portOr falls back to a free one', async () => {
    const p = await freePort();
    const next = p + 1 >= PICKED_PORTS.to ? PICKED_PORTS.from : p + 1;
    await listen(next);
    const got = await freePort();
    expect(got).not.toBe(next);
    await listen(got);
    const instead = await portOr(next);
    expect(instead).not.toBe(next);
    expect(await portOr(instead)).toBe(instead);
  });
});
