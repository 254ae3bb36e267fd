import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../simulator/net/tcp-proxy.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** An echo server standing in for the broker, remembering what it received. */
async function echoServer(): Promise<{ server: Server; port: number; received: () => string; sockets: Socket[] }> {
  let got = '';
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.on('data', (d) => {
      got += d.toString();
      s.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, received: () => got, sockets };
}

function client(port: number): Promise<{ s: Socket; data: () => string; error: () => string | null; closed: () => boolean }> {
  return new Promise((res, rej) => {
    let data = '';
    let error: string | null = null;
    let closed = false;
    const s = createConnection({ host: '127.0.0.1', port }, () => res({ s, data: () => data, error: () => error, closed: () => closed }));
    s.on('data', (d) => (data += d.toString()));
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
      rej(e);
    });
    s.on('close', () => (closed = true));
  });
}

describe('the network cable the simulator controls (TCP proxy)', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function setup() {
    const echo = await echoServer();
    const proxy = new TcpProxy({ host: '127.0.0.1', port: echo.port });
    const port = await proxy.start();
    cleanup.push(
      () => proxy.close(),
      () => new Promise((r) => echo.server.close(r)),
      () => echo.sockets.forEach((s) => s.destroy()),
    );
    return { echo, proxy, port };
  }

  it('passes bytes both ways while up', async () => {
    const { port } = await setup();
    const c = await client(port);
    c.s.write('hello');
    await waitFor(() => c.data() === 'hello', 'echo');
    c.s.destroy();
  });

  it('a cut resets open connections at once and refuses new ones until restored', async () => {
    const { port, proxy } = await setup();
    const c = await client(port);
    c.s.write('x');
    await waitFor(() => c.data() === 'x', 'echo');
    proxy.setMode('cut');
    await waitFor(() => c.closed() && c.error() === 'ECONNRESET', 'reset seen by the device');
    // The connect itself may succeed (the proxy accepts, then resets): either way the device sees a reset.
    const refused = await new Promise<string | null>((r) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? null));
      s.on('close', () => r('closed without error'));
    });
    expect(refused).toBe('ECONNRESET');
    proxy.setMode('up');
    const again = await client(port);
    again.s.write('back');
    await waitFor(() => again.data() === 'back', 'echo after restore');
    again.s.destroy();
  });

  it('a blackhole silently holds traffic; on restore it is delivered (TCP retransmits)', async () => {
    const { port, proxy, echo } = await setup();
    const c = await client(port);
    c.s.write('a');
    await waitFor(() => c.data() === 'a', 'echo');
    proxy.setMode('blackhole');
    c.s.write('b');
    await sleep(300);
    expect(echo.received()).toBe('a');
    expect(c.closed()).toBe(false);
    // New connections are accepted but lead nowhere.
    const late = await client(port);
    late.s.write('L');
    await sleep(200);
    expect(echo.received()).toBe('a');
    proxy.setMode('up');
    await waitFor(() => c.data() === 'ab' && late.data() === 'L', 'held bytes delivered');
    c.s.destroy();
    late.s.destroy();
  });

  it('an end that gave up during a blackhole is closed on the other side only on restore', async () => {
    const { port, proxy, echo } = await setup();
    const c = await client(port);
    c.s.write('a');
    await waitFor(() => echo.sockets.length === 1 && c.data() === 'a', 'connected');
    let brokerSawClose = false;
    echo.sockets[0]!.on('close', () => (brokerSawClose = true));
    proxy.setMode('blackhole');
    c.s.destroy();
    await sleep(300);
    expect(brokerSawClose).toBe(false);
    proxy.setMode('up');
    await waitFor(() => brokerSawClose, 'close delivered after restore');
  });
});
