/** Topic layout: hcp/v1/{hallId}/{deviceId}/{kind}. */
export const TOPIC_ROOT = 'hcp/v1';
export const TOPIC_KINDS = ['rating', 'ack', 'status', 'config', 'session'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

/** Hall and device ids: safe in topics, file names and URLs (no '/', '+', '#'). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export interface TopicAddress {
  hall: string;
  device: string;
  kind: TopicKind;
}

export function topic(hall: string, device: string, kind: TopicKind): string {
  if (!ID_PATTERN.test(hall)) throw new TypeError(`invalid hall id ${JSON.stringify(hall)}`);
  if (!ID_PATTERN.test(device)) throw new TypeError(`invalid device id ${JSON.stringify(device)}`);
  return `${TOPIC_ROOT}/${hall}/${device}/${kind}`;
}

/** Returns null for anything that is not exactly one of our topics. */
export function parseTopic(t: string): TopicAddress | null {
  const parts = t.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return null;
  const [, , hall, device, kind] = parts as [string, string, string, string, string];
  if (!ID_PATTERN.test(hall) || !ID_PATTERN.test(device)) return null;
  if (!(TOPIC_KINDS as readonly string[]).includes(kind)) return null;
  return { hall, device, kind: kind as TopicKind };
}
