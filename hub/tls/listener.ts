/** Small facts about the hub's listeners: the hall CA's fingerprint, and what counts as loopback. */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** SHA-256 of the (first) certificate in a PEM, as `hub tls init` prints it: AB:CD:…, 32 bytes. */
export function caFingerprint(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Whether a listen address reaches only this machine (plain HTTP there is a demo, not a hall). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

/** The file in the hub's data directory naming the URL the hub answers on from this machine. */
export const HUB_URL_FILE = 'hub.url';

/** The hub's URL from this machine: a wildcard listen address is reached on loopback. */
export function localUrl(https: boolean, host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : isIP(host) === 6 ? `[${host}]` : host;
  return `${https ? 'https' : 'http'}://${h}:${port}`;
}
