/** Helpers for the hub tests: a foreign MQTT client (Debian's mosquitto tools), device credentials, metrics. */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIRMWARE_VERSION } from '../../device/agent.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import { loadOrCreateKeys } from '../../device/identity/keys.js';
import type { DeviceKeys } from '../../protocol/index.js';
import type { TestHall } from '../helpers/hall.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`), never throws for a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export interface Creds {
  id: string;
  hall: string;
  password: string;
  keys: DeviceKeys;
  dir: string;
}

/** Registers and enrols a device through the real enrolment path, without running an agent. */
export async function enrolledDevice(hall: TestHall, window: string, settings?: Record<string, unknown>): Promise<Creds> {
  const { token, device } = await hall.api<{ token: string; device: { id: string } }>(
    '/api/devices',
    settings ? { window, settings } : { window },
  );
  const dir = join(hall.dir, 'creds', device.id);
  mkdirSync(dir, { recursive: true });
  await enrol(dir, hall.hubUrl, token, FIRMWARE_VERSION);
  return credsIn(dir);
}

export function credsIn(dir: string): Creds {
  const e = JSON.parse(readFileSync(join(dir, 'enrolment.json'), 'utf8')) as { device: string; hall: string; password: string };
  return { id: e.device, hall: e.hall, password: e.password, keys: loadOrCreateKeys(dir), dir };
}

/** A hub to scrape: a TestHall, or a hub started in this process (scraping needs a token). */
export type Scrapable = { hubUrl: string; adminToken: string | null } | { ports: { http: number }; adminToken: string | null };

/** The /metrics text, scraped with the hub's admin token as Prometheus would with its token. */
export async function scrape(hub: Scrapable): Promise<string> {
  const url = 'hubUrl' in hub ? hub.hubUrl : `http://127.0.0.1:${hub.ports.http}`;
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${hub.adminToken}` } });
  if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
  return r.text();
}

/** The value of one Prometheus sample, 0 if absent. `labels` as written in the exposition, e.g. reason="oversized". */
export async function metric(hub: Scrapable, name: string, labels = ''): Promise<number> {
  const text = await scrape(hub);
  const prefix = labels ? `${name}{${labels}}` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** mosquitto_pub as a device: returns the exit code and output. */
export function mosquittoPub(
  port: number,
  c: { id: string; user?: string; password: string },
  topicName: string,
  args: string[] = [],
  extra: string[] = [],
): Promise<RunResult> {
  return run('mosquitto_pub', [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-V',
    'mqttv311',
    '-i',
    c.id,
    '-u',
    c.user ?? c.id,
    '-P',
    c.password,
    '-q',
    '1',
    '-t',
    topicName,
    ...args,
    ...extra,
  ]);
}
