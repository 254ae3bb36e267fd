/**
 * Server-sent events to open pages: device tiles, new ratings, work orders and alerts as
 * they happen. Each stream re-checks its session on every heartbeat, so a page left open
 * is told to log in again when its session ends instead of streaming forever.
 */
import type { ServerResponse } from 'node:http';

/** 'citizen-text': what a citizen wrote on the QR page, for the rating it is about. */
export type LiveEvent = 'tile' | 'rating' | 'workorder' | 'alert' | 'summary' | 'logout' | 'citizen-text';

interface Client {
  res: ServerResponse;
  stillValid: () => boolean;
}

export class LiveFeed {
  private readonly clients = new Set<Client>();
  private readonly timer: NodeJS.Timeout;
  private nextId = 1;

  constructor(heartbeatMs = 15_000) {
    this.timer = setInterval(() => this.heartbeat(), heartbeatMs);
    this.timer.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over an HTTP response as an event stream. */
  attach(res: ServerResponse, stillValid: () => boolean): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // a reverse proxy must not hold events back
    });
    res.write('retry: 3000\n\n');
    const c: Client = { res, stillValid };
    this.clients.add(c);
    res.on('close', () => this.clients.delete(c));
  }

  send(event: LiveEvent, data: unknown): void {
    if (this.clients.size === 0) return;
    const frame = `id: ${this.nextId++}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) c.res.write(frame);
  }

  heartbeat(): void {
    for (const c of this.clients) {
      if (!c.stillValid()) {
        c.res.write('event: logout\ndata: {}\n\n');
        c.res.end();
        this.clients.delete(c);
      } else c.res.write(': keep-alive\n\n');
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
