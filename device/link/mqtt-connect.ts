/**
 * An mqtt.js client for `mqtt://` and `mqtts://` only. `mqtt.connect()` loads every transport
 * mqtt.js has (WebSocket, SOCKS, …) on its first connect, about 11 MiB of resident memory an
 * evaluator never uses (issue 14: agent memory); the client class alone with a TCP or TLS
 * socket of our own is all the device link needs.
 */
import net from 'node:net';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import type { IClientOptions, MqttClient } from 'mqtt'; // types only: erased, loads nothing

export type { MqttClient };
// A CommonJS module whose class is `exports.default`; required, so every loader agrees on that.
const { default: Client } = createRequire(import.meta.url)('mqtt/lib/client') as typeof import('mqtt/lib/client');

export interface MqttTls {
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
}

/** A client connecting to `url` (mqtt: or mqtts:), each (re)connect a fresh socket. */
export function connectMqtt(url: string, options: IClientOptions, tlsOptions: MqttTls = {}): MqttClient {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal loses its brackets
  const secure = u.protocol === 'mqtts:';
  if (!secure && u.protocol !== 'mqtt:') throw new Error(`the broker address must be mqtt:// or mqtts://, got "${url}"`);
  const port = u.port ? Number(u.port) : secure ? 8883 : 1883;
  return new Client(() => {
    if (!secure) return net.createConnection({ host, port });
    const socket = tls.connect({
      host,
      port,
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
      ...tlsOptions,
      rejectUnauthorized: tlsOptions.rejectUnauthorized !== false,
    });
    return socket;
  }, options);
}
