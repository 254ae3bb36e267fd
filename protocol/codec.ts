import { z } from 'zod';
import { err, ok, ProtocolError, type Result } from './errors.js';
import { MAX_BYTES, MESSAGE_SCHEMAS, PROTOCOL_VERSION } from './schemas.js';
import type { TopicKind } from './topics.js';

export type MessageOf<K extends TopicKind> = z.output<(typeof MESSAGE_SCHEMAS)[K]>;

/**
 * Decodes one payload of the given topic kind. Never throws: every way a payload can be wrong
 * comes back as a ProtocolError with a code and a message a person can act on.
 */
export function decode<K extends TopicKind>(kind: K, payload: Uint8Array | string): Result<MessageOf<K>> {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (bytes > MAX_BYTES[kind]) {
    return err(new ProtocolError('oversized', `${kind} payload is ${bytes} bytes; the limit is ${MAX_BYTES[kind]}`));
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (e) {
    return err(new ProtocolError('malformed', `${kind} payload is not JSON: ${(e as Error).message}`));
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return err(new ProtocolError('malformed', `${kind} payload must be a JSON object`));
  }
  const v = (json as { v?: unknown }).v;
  if (v !== PROTOCOL_VERSION) {
    return err(new ProtocolError('unknown-version', `${kind} payload has protocol version ${JSON.stringify(v)}; this side speaks ${PROTOCOL_VERSION}`));
  }
  const parsed = MESSAGE_SCHEMAS[kind].safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return err(new ProtocolError('invalid', `${kind} payload is invalid: ${first.join('; ')}`));
  }
  return ok(parsed.data as MessageOf<K>);
}

export function encode<K extends TopicKind>(kind: K, message: MessageOf<K>): Buffer {
  // Validate on the way out too: a bug on our side must not reach the other side as garbage.
  const parsed = MESSAGE_SCHEMAS[kind].parse(message);
  return Buffer.from(JSON.stringify(parsed));
}
