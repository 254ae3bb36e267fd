import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AedesOptions } from 'aedes';
import type { Logger } from 'pino';
import { addAcceptors } from './acceptors.js';
import { hubPersistence } from './persistence.js';
import { guardPacketSize } from './hooks/packet-size.js';

export interface BrokerOptions {
  host: string;
  /** Plain TCP port, or null for none. */
  port: number | null;
  tls?: { port: number; key: string | Buffer; cert: string | Buffer; ca?: string | Buffer } | null;
  hooks: Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'preConnect'>;
  /** Largest MQTT packet a client may send (bytes); a larger one closes its connection. */
  maxPacketBytes?: number;
  onPacketTooBig?: (announced: number) => void;
  /**
   * A connection must have sent its whole CONNECT (after the TLS handshake) within this time,
   * or it is closed: a half-sent CONNECT must not hold a socket and its memory for long.
   */
  connectTimeoutMs?: number;
  /**
   * Connections each listener may accept per turn of the event loop (acceptors.ts; default 32,
   * 1: Node's own one a turn). Set up in the background once `acceptorsAfter` connections
   * (default 16) have come in: a hall's worth of devices, not a lab's or a test's three.
   */
  acceptors?: number;
  acceptorsAfter?: number;
  log: Logger;
}

export interface RunningBroker {
  aedes: Aedes;
  servers: Server[];
  /** Ports actually bound (useful with port 0). */
  ports: { tcp: number | null; tls: number | null };
  /** Every listening server, the extra acceptors included (waits for those being set up). */
  listeners(): Promise<Server[]>;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => {
      server.off('error', rej);
      const a = server.address();
      res(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/** The hall's embedded MQTT broker. Policy (auth, ACL) arrives as hooks; this file only wires. */
export async function startBroker(o: BrokerOptions): Promise<RunningBroker> {
  // concurrency 0: no limit on messages in flight inside aedes' emitter (mqemitter). With its
  // default of 100, a queue forms under load (1,000 devices and their acks) and mqemitter
  // drains it by synchronous recursion: the stack overflows and the hub dies (found by
  // bench/hub-ingest.ts). Memory stays bounded by the sockets: aedes reads a client's next
  // packets only when its current ones are handled.
  // aedes stops its connect timer when the CONNECT packet is parsed, before authentication:
  // a slow password check on a busy hub does not count against it.
  const connectTimeout = o.connectTimeoutMs ?? 5_000;
  const aedes = await Aedes.createBroker({
    ...o.hooks,
    heartbeatInterval: 60_000,
    connectTimeout,
    concurrency: 0,
    persistence: hubPersistence(),
  });
  aedes.on('clientError', (client, e) => o.log.debug({ client: client?.id, err: e.message }, 'client error'));
  aedes.on('connectionError', (client, e) => o.log.debug({ client: client?.id, err: e.message }, 'connection error'));
  const maxPacket = o.maxPacketBytes ?? 64 * 1024;
  const handle = (conn: import('node:net').Socket) => {
    guardPacketSize(conn, maxPacket, (n) => {
      o.log.warn({ remote: conn.remoteAddress, announced: n, limit: maxPacket }, 'closed a connection that sent an oversized MQTT packet');
      o.onPacketTooBig?.(n);
    });
    aedes.handle(conn);
  };
  const servers: Server[] = [];
  const ports = { tcp: null as number | null, tls: null as number | null };
  const acceptors: Promise<Server[]>[] = [];
  const moreAcceptors = (s: Server) => {
    const add = () => acceptors.push(addAcceptors(s, o.acceptors ?? 32, o.log));
    let waitFor = o.acceptorsAfter ?? 16;
    if (waitFor <= 0) return void add();
    const count = () => {
      if (--waitFor > 0) return;
      s.off('connection', count);
      add();
    };
    s.on('connection', count);
  };
  if (o.port !== null) {
    const s = createServer(handle);
    servers.push(s);
    ports.tcp = await listen(s, o.port, o.host);
    moreAcceptors(s);
  }
  if (o.tls) {
    // The TLS handshake has its own timer (Node's default is 120 s): the same bound as CONNECT.
    const s = createTlsServer(
      { key: o.tls.key, cert: o.tls.cert, handshakeTimeout: connectTimeout, ...(o.tls.ca ? { ca: o.tls.ca } : {}) },
      handle,
    );
    // Node only reports a failed or timed-out handshake ('tlsClientError'); it leaves the socket
    // open, so a client that stops mid-handshake would hold it for ever. Close it.
    s.on('tlsClientError', (e, socket) => {
      o.log.debug({ remote: socket.remoteAddress, err: e.message }, 'TLS handshake failed');
      socket.destroy();
    });
    servers.push(s);
    ports.tls = await listen(s, o.tls.port, o.host);
    moreAcceptors(s);
  }
  const listeners = async () => [...servers, ...(await Promise.all(acceptors)).flat()];
  return {
    aedes,
    servers,
    ports,
    listeners,
    async close() {
      // Every listener stops accepting first (the extra acceptors too, once set up); each close
      // completes when its connections have ended, which closing aedes does.
      const closed = (await listeners()).map((s) => new Promise<void>((res) => s.close(() => res())));
      await new Promise<void>((res) => aedes.close(() => res()));
      await Promise.all(closed);
    },
  };
}
