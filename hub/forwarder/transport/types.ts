import type { MessageStream } from '../message-kinds.js';
import type { SendOutcome } from '../outcome.js';
import type { Profile } from '../profile.js';

/** A batch of a message stream other than evaluations: where it goes and how its reply reads. */
export interface Route {
  stream: MessageStream;
  /** The profile as this stream sees it (its envelope and reply format: profile.ts streamView). */
  profile: Profile;
}

/**
 * How a batch travels to the province. A transport sends one request body and says what came
 * of it; the forwarder alone decides what that means for the queue.
 */
export interface Transport {
  /** 'http' or 'mqtt', for status pages and logs. */
  readonly kind: string;
  /** Where it sends (URL or broker list and topic), without secrets. */
  readonly target: string;
  /** `body` is UTF-8 JSON (bytes when built from stored JSON). `keys` are the idempotency keys of its items, in order. Never throws. */
  send(body: string | Buffer, keys: string[], signal: AbortSignal, route?: Route): Promise<SendOutcome>;
  close(): Promise<void>;
}
