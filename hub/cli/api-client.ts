/**
 * How the `haochaping hub …` admin commands reach a running hub: through its HTTP API with
 * an admin token, so a revoke really disconnects the device and a config change is really
 * pushed — the running hub does both, the command line only asks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN_FILE } from '../hub.js';

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
  hub: string;
  token?: string;
  data: string;
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
  constructor(private readonly t: HubTarget) {
    this.token = resolveToken(t);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.t.hub), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (e) {
      throw new HubApiError(0, `cannot reach the hub at ${this.t.hub} (is it running? --hub): ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    if (!res.ok) throw new HubApiError(res.status, (parsed as { message?: string } | null)?.message ?? `hub answered ${res.status}: ${text.slice(0, 200)}`);
    return parsed as T;
  }
}
