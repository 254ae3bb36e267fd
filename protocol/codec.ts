import { z } from 'zod';
import { err, ok, ProtocolError, type Result } from './errors.js';
import { MAX_BYTES, MESSAGE_SCHEMAS, PROTOCOL_VERSION } from './schemas.js';
import { OversizedMessageError } from './size.js';
import type { TopicKind } from './topics.js';

export type MessageOf<K extends TopicKind> = z.output<(typeof MESSAGE_SCHEMAS)[K]>;

/**
 * Decodes one payload of the given topic kind. Never throws: every way a payload can be wrong
 * comes back as a ProtocolError with a code and a message a person can act on.
 */
export function decode<K extends TopicKind>(kind: K, payload: Uint8Array | string, opts: { maxBytes?: number } = {}): Result<MessageOf<K>> {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  // maxBytes: only for reading an already refused payload to tell its sender which record it was.
  const limit = opts.maxBytes ?? MAX_BYTES[kind];
  if (bytes > limit) {
    return err(new ProtocolError('oversized', `${kind} payload is ${bytes} bytes; the limit is ${limit}`));
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
    return err(
      new ProtocolError(
        'unknown-version',
        `${kind} payload has protocol version ${JSON.stringify(v)}; this side speaks ${PROTOCOL_VERSION}`,
      ),
    );
  }
  const parsed = MESSAGE_SCHEMAS[kind].safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return err(new ProtocolError('invalid', `${kind} payload is invalid: ${first.join('; ')}`));
  }
  return ok(parsed.data as MessageOf<K>);
}

/**
 * Encodes one message. Throws a zod error if it fails its schema, and an OversizedMessageError
 * if it exceeds the topic's byte limit: the other side would refuse it unread, so it must not
 * be sent (and whoever made it must say so rather than pretend it went).
 */
export function encode<K extends TopicKind>(kind: K, message: MessageOf<K>): Buffer {
  // Validate on the way out too: a bug on our side must not reach the other side as garbage.
  const parsed = MESSAGE_SCHEMAS[kind].parse(message);
  const bytes = Buffer.from(JSON.stringify(parsed));
  if (bytes.byteLength > MAX_BYTES[kind]) throw new OversizedMessageError(kind, bytes.byteLength, MAX_BYTES[kind]);
  return bytes;
}
