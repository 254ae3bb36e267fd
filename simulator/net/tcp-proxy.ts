/**
 * A TCP proxy the simulator places between one device and the hub's broker, so it can cut
 * the network the ways a hall's network fails:
 * - 'up': bytes flow.
 * - 'cut': every connection is reset (RST, as a switch reboot or pulled cable looks to the
 *   host that notices), and new connections are reset at once (connection refused).
 * - 'blackhole': nothing flows and nothing is said — packets are silently dropped, as with a
 *   dead link or a firewall that drops. Connections stay open; new ones are accepted but go
 *   nowhere. TCP would retransmit what was sent, so on restore the held bytes are delivered
 *   (unless an end gave up meanwhile; then the other end learns it on restore).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type NetMode = 'up' | 'cut' | 'blackhole';

interface Pair {
  down: Socket; // device side
  up: Socket | null; // broker side
  held: { toUp: Buffer[]; toDown: Buffer[] };
  /** An end closed while blackholed: tell the other end on restore. */
  gone: boolean;
}

export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private mode: NetMode = 'up';
  port = 0;
  /** Connections accepted, and reset by a cut, since start. */
  readonly counts = { accepted: 0, reset: 0 };

  constructor(
    private readonly target: { host: string; port: number },
    private readonly listen: { host: string; port: number } = { host: '127.0.0.1', port: 0 },
  ) {}

  get state(): NetMode {
    return this.mode;
  }

  async start(): Promise<number> {
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.listen.port, this.listen.host, () => res());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  private accept(down: Socket): void {
    this.counts.accepted++;
    down.on('error', () => {});
    if (this.mode === 'cut') {
      this.counts.reset++;
      down.resetAndDestroy();
      return;
    }
    const pair: Pair = { down, up: null, held: { toUp: [], toDown: [] }, gone: false };
    this.pairs.add(pair);
    down.on('data', (d) => this.forward(pair, d, 'toUp'));
    down.on('close', () => this.closed(pair, 'down'));
    if (this.mode === 'up') this.connectUp(pair);
  }

  private connectUp(pair: Pair): void {
    const up = createConnection({ host: this.target.host, port: this.target.port, noDelay: true });
    pair.up = up;
    up.on('error', () => {});
    up.on('data', (d) => this.forward(pair, d, 'toDown'));
    up.on('close', () => this.closed(pair, 'up'));
    up.on('connect', () => this.flush(pair));
  }

  private forward(pair: Pair, d: Buffer, dir: 'toUp' | 'toDown'): void {
    const dst = dir === 'toUp' ? pair.up : pair.down;
    if (this.mode !== 'up' || !dst || dst.connecting) {
      pair.held[dir].push(d);
      return;
    }
    this.flush(pair);
    dst.write(d);
  }

  private flush(pair: Pair): void {
    if (this.mode !== 'up') return;
    for (const dir of ['toUp', 'toDown'] as const) {
      const dst = dir === 'toUp' ? pair.up : pair.down;
      if (!dst || dst.connecting || dst.destroyed) continue;
      for (const d of pair.held[dir].splice(0)) dst.write(d);
    }
  }

  private closed(pair: Pair, side: 'down' | 'up'): void {
    if (!this.pairs.has(pair)) return;
    if (this.mode === 'blackhole') {
      pair.gone = true; // the other end hears of it when the network comes back
      return;
    }
    this.pairs.delete(pair);
    const other = side === 'down' ? pair.up : pair.down;
    // Deliver what the closing end sent before it went, then close (a FIN, not a reset).
    if (other && !other.destroyed) {
      this.flush(pair);
      other.end();
    }
  }

  setMode(mode: NetMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    if (mode === 'cut') {
      for (const p of this.pairs) {
        this.counts.reset++;
        p.down.resetAndDestroy();
        p.up?.resetAndDestroy();
      }
      this.pairs.clear();
    } else if (mode === 'up') {
      for (const p of [...this.pairs]) {
        if (p.gone) {
          this.pairs.delete(p);
          this.flush(p);
          p.down.end();
          p.up?.end();
        } else if (!p.up) this.connectUp(p);
        else this.flush(p);
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.down.destroy();
      p.up?.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
    this.server = null;
  }
}
