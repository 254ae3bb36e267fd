/**
 * Files a device fetches from its hub over HTTP(S) — the hall's voice recordings (and release
 * bundles): authenticated with the device's own MQTT credentials (HTTP Basic), trusting the
 * hall CA pinned at enrolment when there is one. Nothing is kept that is larger than announced
 * or does not match the SHA-256 the hub's config named.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { writeFileAtomic } from '../../common/atomic-file.js';

export interface HubHttpTarget {
  /** The hub's HTTP(S) address from enrolment, e.g. https://hub.hall.local:8080 */
  url: string;
  username: string;
  password: string;
  /** The hall CA (PEM) pinned at enrolment, or null for the system's CAs. */
  ca: string | null;
}

/** The hub could not be reached or answered wrongly: worth trying again later. */
export class HubHttpError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

/** A GET to the hub with the device's credentials; the caller reads (or destroys) the response. */
export function hubGet(
  hub: HubHttpTarget,
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<IncomingMessage> {
  const url = new URL(path, hub.url);
  const https = url.protocol === 'https:';
  const auth = Buffer.from(`${hub.username}:${hub.password}`).toString('base64');
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      url,
      {
        method: 'GET',
        headers: { authorization: `Basic ${auth}`, ...headers },
        ...(https && hub.ca ? { ca: hub.ca } : {}),
        timeout: timeoutMs,
      },
      resolve,
    );
    req.on('timeout', () => req.destroy(new HubHttpError(`the hub did not answer in ${timeoutMs / 1000} s`)));
    req.on('error', (e) => reject(e instanceof HubHttpError ? e : new HubHttpError(`cannot reach the hub: ${e.message}`)));
    req.end();
  });
}

/**
 * Fetches a small file (held in memory, at most `maxBytes`) and writes it to `dest` atomically
 * only if its SHA-256 is `sha256`.
 */
export async function fetchVerified(hub: HubHttpTarget, path: string, dest: string, sha256: string, maxBytes: number): Promise<Buffer> {
  const res = await hubGet(hub, path);
  if (res.statusCode !== 200) {
    res.resume();
    throw new HubHttpError(`the hub answered ${res.statusCode} for ${path}`, res.statusCode ?? null);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    n += chunk.byteLength;
    if (n > maxBytes) {
      res.destroy();
      throw new HubHttpError(`${path} is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (createHash('sha256').update(body).digest('hex') !== sha256)
    throw new HubHttpError(`${path} does not match the SHA-256 the hub's config named`);
  writeFileAtomic(dest, body, 0o644);
  return body;
}
