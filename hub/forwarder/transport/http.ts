/**
 * HTTP(S) to the province: one keep-alive connection pool (undici), a custom CA bundle for
 * government CAs, optional client certificate, request authentication, and a hard timeout on
 * every push. undici does not retry a POST by itself, so every retry is the forwarder's.
 */
import type { Agent } from 'undici';
import { lazyModule } from '../../../common/lazy-module.js';
import { authHeaders, type RequestAuth } from '../auth.js';
import { classifyError, classifyHttpReply, type SendOutcome } from '../outcome.js';
import type { Profile } from '../profile.js';
import type { Route, Transport } from './types.js';

/**
 * undici (~20 MiB of a process's memory) is loaded when an HTTP destination is made, not by every
 * hub that imports the forwarder (a hub forwarding over MQTT, or not at all, never needs it).
 */
const undici = lazyModule<typeof import('undici')>('undici');

export interface HttpTransportOptions {
  url: string;
  /** A URL per message stream where the province has one (default: `url`, told apart by the batch envelope). */
  endpoints?: Partial<Record<string, string>>;
  profile: Profile;
  timeoutMs: number;
  connectTimeoutMs?: number;
  /** PEM bundle that replaces the default roots (like curl --cacert). */
  ca?: string | Buffer;
  /** Client certificate and key (PEM) for provinces that want mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  auth?: RequestAuth;
  headers?: Record<string, string>;
  now?: () => number;
}

export class HttpTransport implements Transport {
  readonly kind = 'http';
  readonly target: string;
  private readonly agent: Agent;
  private readonly now: () => number;

  constructor(private readonly o: HttpTransportOptions) {
    this.target = o.url;
    this.now = o.now ?? Date.now;
    this.agent = new (undici().Agent)({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      connect: { timeout: o.connectTimeoutMs ?? Math.min(o.timeoutMs, 5000), ca: o.ca, cert: o.cert, key: o.key },
    });
  }

  async send(body: string | Buffer, _keys: string[], signal: AbortSignal, route?: Route): Promise<SendOutcome> {
    // One controller per push, aborted by the caller or by our own timer, and the timer cleared
    // when the push ends: AbortSignal.timeout() would leave a live timer per push for timeoutMs
    // (at batch 1, thousands a second) and AbortSignal.any() registers each signal it combines.
    const ac = new AbortController();
    let timedOut = false;
    const onAbort = () => ac.abort(signal.reason);
    if (signal.aborted) ac.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.o.timeoutMs);
    try {
      const res = await undici().request((route && this.o.endpoints?.[route.stream]) || this.o.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          ...this.o.headers,
          ...authHeaders(this.o.auth ?? { kind: 'none' }, body, this.now()),
        },
        body,
        signal: ac.signal,
      });
      const text = await res.body.text();
      return classifyHttpReply(route?.profile ?? this.o.profile, res.statusCode, res.headers, text, this.now());
    } catch (e) {
      const c = classifyError(
        timedOut && !signal.aborted ? Object.assign(new Error(`no answer within ${this.o.timeoutMs} ms`), { name: 'TimeoutError' }) : e,
      );
      return { kind: 'failed', ...c };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
