import type { SendOutcome } from '../outcome.js';

/**
 * How a batch travels to the province. A transport sends one request body and says what came
 * of it; the forwarder alone decides what that means for the queue.
 */
export interface Transport {
  /** 'http' or 'mqtt', for status pages and logs. */
  readonly kind: string;
  /** Where it sends (URL or broker list and topic), without secrets. */
  readonly target: string;
  /** `keys` are the idempotency keys of the items in `body`, in order. Never throws. */
  send(body: string, keys: string[], signal: AbortSignal): Promise<SendOutcome>;
  close(): Promise<void>;
}
