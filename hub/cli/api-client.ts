/**
 * How the `haochaping hub …` admin commands reach a running hub: through its HTTP API with
 * an admin token, so a revoke really disconnects the device and a config change is really
 * pushed — the running hub does both, the command line only asks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent, fetch as undiciFetch } from 'undici';
import { ADMIN_TOKEN_FILE } from '../hub.js';
import { HUB_URL_FILE } from '../tls/listener.js';

export class HubApiError extends Error {
  override readonly name = 'HubApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HubTarget {
  /** Default: what the running hub wrote to <data>/hub.url, else http://127.0.0.1:8080. */
  hub?: string;
  token?: string;
  data: string;
  /** The hall CA (PEM file) an https:// hub is checked against; default <data>/tls/ca.crt if it exists, else the system's CAs. */
  ca?: string;
}

/** The hub's address: as given, or as the running hub wrote it into its data directory. */
export function resolveHubUrl(t: HubTarget): string {
  if (t.hub) return t.hub;
  try {
    return readFileSync(join(t.data, HUB_URL_FILE), 'utf8').trim();
  } catch {
    return 'http://127.0.0.1:8080';
  }
}

/** The CA file an https:// hub is verified with, or null for the system's CAs (or plain HTTP). */
function caFileFor(t: HubTarget & { hub: string }): string | null {
  if (!t.hub.startsWith('https:')) return null;
  if (t.ca) return t.ca;
  const file = join(t.data, 'tls', 'ca.crt');
  return existsSync(file) ? file : null;
}

export function resolveToken(t: HubTarget): string {
  if (t.token) return t.token;
  if (process.env.HCP_API_TOKEN) return process.env.HCP_API_TOKEN;
  const file = join(t.data, ADMIN_TOKEN_FILE);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new HubApiError(0, `no API token: give --token, set HCP_API_TOKEN, or run as a user who can read ${file}`);
  }
}

export class HubApi {
  private readonly token: string;
  /** The hall CA (--ca); undici is loaded on the first request, not by every process that registers the CLI (the hub). */
  private readonly ca: string | undefined;
  private dispatcher: Agent | undefined;
  private readonly t: HubTarget & { hub: string };
  constructor(target: HubTarget) {
    this.t = { ...target, hub: resolveHubUrl(target) };
    this.token = resolveToken(target);
    const caFile = caFileFor(this.t);
    if (caFile) {
      let ca: string;
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch (e) {
        throw new HubApiError(0, `cannot read the hall CA ${caFile} (--ca): ${(e as Error).message}`);
      }
      this.ca = ca;
    }
  }

  /** A GET whose answer is a file (a QR board): its bytes and headers; an error answer is a HubApiError as for call. */
  async download(path: string): Promise<{ body: Buffer; headers: Headers }> {
    const res = await this.request('GET', path);
    if (!res.ok) {
      const text = await res.text();
      let message = `hub answered ${res.status}: ${text.slice(0, 200)}`;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        /* not JSON */
      }
      throw new HubApiError(res.status, message);
    }
    return { body: Buffer.from(await res.arrayBuffer()), headers: res.headers as unknown as Headers };
  }

  /** A JSON body is sent as JSON; a file's bytes (a recording) as they are, with `contentType`. */
  private async request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Awaited<ReturnType<typeof undiciFetch>>> {
    const undici = await import('undici');
    if (this.ca && !this.dispatcher) this.dispatcher = new undici.Agent({ connect: { ca: this.ca } });
    try {
      return await undici.fetch(new URL(path, this.t.hub), {
        dispatcher: this.dispatcher,
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
        body: body === undefined ? undefined : body instanceof Uint8Array ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new HubApiError(
        0,
        `cannot reach the hub at ${this.t.hub} (is it running? with TLS configured it serves https://, checked with --ca): ${(e as Error).message}${cause ? ` (${cause})` : ''}`,
      );
    }
  }

  async call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const res = await this.request(method, path, body, contentType);
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    if (!res.ok)
      throw new HubApiError(
        res.status,
        (parsed as { message?: string } | null)?.message ?? `hub answered ${res.status}: ${text.slice(0, 200)}`,
      );
    return parsed as T;
  }
}
