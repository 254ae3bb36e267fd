import type { TopicKind } from '../../../protocol/index.js';

/** What a policy hook refused, for counting and logging in one place (the hub wires it). */
export interface Denial {
  action: 'connect' | 'publish' | 'will' | 'subscribe';
  client: string;
  reason: string;
  topic?: string;
  /** The kind of our topic it was aimed at, when it was one of ours. */
  kind?: TopicKind;
  /** Extra detail for the log. */
  detail?: string;
  /** An oversized rating's payload, so ingest can tell the device which record was refused. */
  payload?: Buffer;
}

export type OnDenied = (d: Denial) => void;
