/**
 * The device's side of enrolment over HTTPS with a pinned hall CA. The enrolment QR carries
 * the CA's SHA-256 fingerprint; the device reads the CA from the hub (an answer anybody on
 * the network could forge), believes it only if its fingerprint is the one from the QR, and
 * then talks to the hub only over TLS verified against that CA alone — so the token, its
 * key and the MQTT secret never reach a server that cannot prove it holds the hall's
 * certificate.
 */
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export class PinError extends Error {
  override readonly name = 'PinError';
}

/** "AB:CD:…" or "abcd…" (64 hex digits) → "ABCD…"; anything else is a mistake in the QR or command. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex))
    throw new PinError(
      `--ca-sha256 must be the hall CA's SHA-256 fingerprint, 64 hex digits (AB:CD:… as "hub tls init" prints it), got ${JSON.stringify(fp)}`,
    );
  return hex;
}

export const formatFingerprint = (hex: string): string => hex.match(/../g)!.join(':');

/** The SHA-256 fingerprint (normalized) of the first certificate in a PEM; null if it is not one. */
export function fingerprintOf(pem: string): string | null {
  try {
    return normalizeFingerprint(new X509Certificate(pem).fingerprint256);
  } catch {
    return null;
  }
}

export interface JsonReply {
  status: number;
  body: unknown;
}

/**
 * One JSON request with node's own http/https. `ca`: trust exactly this CA (not the system's);
 * `unverified`: read an answer without believing the server's certificate (only for the CA
 * itself, whose fingerprint is then checked).
 */
export function requestJson(
  url: URL,
  o: { method: 'GET' | 'POST'; body?: unknown; ca?: string; unverified?: boolean; timeoutMs?: number },
): Promise<JsonReply> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: o.method,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
        agent: false, // no pooled connection or TLS session from an earlier, differently verified request
        signal: AbortSignal.timeout(o.timeoutMs ?? 15_000),
        ...(url.protocol === 'https:' ? { ...(o.ca ? { ca: o.ca } : {}), rejectUnauthorized: !o.unverified } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            /* not JSON: the caller says so */
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Whether a request failed because the server's certificate was not good enough (not a network fault). */
export function isCertificateError(e: unknown): boolean {
  const code = String((e as { code?: unknown }).code ?? '');
  return /CERT|SIGNATURE|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ISSUER/.test(code);
}
