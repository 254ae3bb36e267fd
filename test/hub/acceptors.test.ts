/**
 * Extra acceptors on the MQTT listeners (hub/broker/acceptors.ts): real sockets, a real helper
 * process. Node 20's libuv accepts one connection per turn of the event loop; a hub busy with a
 * backlog turns it a few times a second, so devices reconnecting after an outage queued for seconds.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { addAcceptors } from '../../hub/broker/acceptors.js';
import { startBroker } from '../../hub/broker/broker.js';
import { silentLog } from '../helpers/log.js';
import { makeHallPki } from '../../hub/tls/hall-ca.js';

const open: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(open.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listening(server: Server): Promise<number> {
  open.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** Opens `n` connections, then keeps the event loop busy 50 ms per turn; returns the turns until all were accepted. */
async function turnsToAccept(port: number, n: number, accepted: () => number): Promise<number> {
  for (let i = 0; i < n; i++) sockets.push(connect(port, '127.0.0.1').on('error', () => {}));
  let turns = 0;
  const busy = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end);
  };
  busy(200); // every handshake done in the kernel; none accepted yet
  while (accepted() < n && turns < 500) {
    busy(50);
    turns++;
    await new Promise((r) => setImmediate(r));
  }
  return turns;
}

describe('MQTT acceptors', () => {
  it('a busy event loop accepts up to one connection per acceptor per turn (one with Node alone)', async () => {
    let plain = 0;
    const alone = createServer((s) => (plain++, s.destroy()));
    expect(await turnsToAccept(await listening(alone), 40, () => plain)).toBeGreaterThanOrEqual(30);

    let many = 0;
    const primary = createServer((s) => (many++, s.destroy()));
    const port = await listening(primary);
    const extra = await addAcceptors(primary, 8, silentLog());
    open.push(...extra);
    expect(extra).toHaveLength(7);
    expect(await turnsToAccept(port, 40, () => many)).toBeLessThanOrEqual(8);
  });

  it('loses no connection while the acceptors are being set up: each one reaches the primary, TLS included', async () => {
    const pki = await makeHallPki({ hall: 'acceptors', hosts: ['127.0.0.1'] });
    const primary = createTlsServer({ key: pki.serverKey, cert: pki.serverCert }, (s) => s.end('hello'));
    const port = await listening(primary);
    const setup = addAcceptors(primary, 8, silentLog());
    const answers = await Promise.all(
      Array.from(
        { length: 60 },
        () =>
          new Promise<string>((res, rej) => {
            const c = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
            let got = '';
            c.on('data', (d) => (got += String(d)));
            c.on('end', () => res(got));
            c.on('error', rej);
          }),
      ),
    );
    open.push(...(await setup));
    expect(answers).toEqual(Array(60).fill('hello'));
  });

  it("a broker adds its acceptors once a hall's worth of connections came in, not for a few", async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: 0, hooks: {}, log: silentLog(), acceptors: 4, acceptorsAfter: 3 });
    try {
      const knock = () =>
        new Promise<void>((res) => {
          const c = connect(broker.ports.tcp!, '127.0.0.1', () => (c.destroy(), res()));
        });
      await knock();
      await knock();
      await new Promise((r) => setTimeout(r, 300));
      expect(await broker.listeners()).toHaveLength(1);
      await knock();
      await new Promise((r) => setTimeout(r, 50));
      expect(await broker.listeners()).toHaveLength(4);
    } finally {
      await broker.close();
    }
  });

  it('a closed broker refuses connections on every acceptor', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: 0, hooks: {}, log: silentLog(), acceptors: 4, acceptorsAfter: 0 });
    const port = broker.ports.tcp!;
    expect(await broker.listeners()).toHaveLength(4);
    await broker.close();
    for (let i = 0; i < 8; i++) {
      const err = await new Promise<string>((res) => {
        const c = connect(port, '127.0.0.1');
        c.on('connect', () => (c.destroy(), res('connected')));
        c.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
      });
      expect(err).toBe('ECONNREFUSED');
    }
  });
});
