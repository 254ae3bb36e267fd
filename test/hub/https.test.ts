/**
 * The hub's HTTP side under TLS: API, hall page and enrolment over HTTPS with the hall CA's
 * certificate (the one MQTT uses), Secure cookies, a trusted reverse proxy, the plain-HTTP
 * warning, and a device that pins the hall CA from the fingerprint in its enrolment QR —
 * refusing a man-in-the-middle that holds a certificate from another CA.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as HttpAgent, fetch as uFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, FIRMWARE_VERSION } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { enrol, EnrolmentError } from '../../device/enrolment/enrolment.js';
import { startHub, type Hub } from '../../hub/hub.js';
import type { HubConfigInput } from '../../hub/config.js';
import { makeHallPki, type HallPki } from '../../hub/tls/hall-ca.js';
import { captureLog, silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';

let dir = '';
let hall: HallPki;
let mitm: HallPki;
const files = { key: '', cert: '', ca: '' };
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-https-'));
  [hall, mitm] = await Promise.all([
    makeHallPki({ hall: 'tls-hall', hosts: ['127.0.0.1'] }),
    makeHallPki({ hall: 'tls-hall', hosts: ['127.0.0.1'] }),
  ]);
  Object.assign(files, { key: join(dir, 'server.key'), cert: join(dir, 'server.crt'), ca: join(dir, 'ca.crt') });
  writeFileSync(files.key, hall.serverKey);
  writeFileSync(files.cert, hall.serverCert);
  writeFileSync(files.ca, hall.caCert);
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function hubWith(over: Partial<HubConfigInput> = {}, log = silentLog()): Promise<Hub> {
  const hub = await startHub(
    {
      dataDir: join(dir, `hub-${++n}`),
      hall: 'tls-hall',
      mqtt: { host: '127.0.0.1', port: null, tls: { port: 0, keyFile: files.key, certFile: files.cert, caFile: files.ca } },
      http: { host: '127.0.0.1', port: 0 },
      ...over,
    },
    log,
  );
  cleanups.push(() => hub.close());
  return hub;
}

/** Fetch that trusts exactly the hall CA. */
const trusting = (ca: string) => {
  const dispatcher = new HttpAgent({ connect: { ca } });
  cleanups.push(() => dispatcher.close());
  return (url: string, init: Parameters<typeof uFetch>[1] = {}) => uFetch(url, { ...init, dispatcher });
};

const adminHeaders = (hub: Hub) => ({ authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' });

describe('HTTPS on the hub', () => {
  it('with TLS configured, the API, the hall page and log-in are HTTPS with the hall certificate, cookies are Secure, and plain HTTP is not served', async () => {
    const hub = await hubWith();
    const url = `https://127.0.0.1:${hub.ports.http}`;
    const f = trusting(hall.caCert);
    expect((await f(`${url}/api/health`)).status).toBe(200);
    expect((await f(`${url}/login`)).headers.get('content-type')).toMatch(/text\/html/);
    await hub.web.users.add('test', { name: 'sup', role: 'supervisor', password: 'right-password-1' });
    const login = await f(`${url}/api/hall/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sup', password: 'right-password-1' }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('set-cookie')).toMatch(/^hcp_session=[^;]+;.*; Secure/);
    // Not plain HTTP on that port, and not trusted by the public CAs: only by the hall CA.
    await expect(fetch(`http://127.0.0.1:${hub.ports.http}/api/health`)).rejects.toThrow();
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });

  it('a client that opens the HTTPS port and stalls before or during the handshake is cut off at the connect timeout; others are served meanwhile', async () => {
    const hub = await hubWith({
      mqtt: {
        host: '127.0.0.1',
        port: null,
        tls: { port: 0, keyFile: files.key, certFile: files.cert, caFile: files.ca },
        limits: { connectTimeoutMs: 500 },
      },
    });
    const closedAfter = (first: Buffer | null) =>
      new Promise<number>((resolve, reject) => {
        const t0 = Date.now();
        const s = connect(hub.ports.http, '127.0.0.1', () => first && s.write(first));
        s.on('error', () => {});
        s.on('close', () => resolve(Date.now() - t0));
        setTimeout(() => reject(new Error('still open after 10 s')), 10_000).unref();
      });
    // Nothing at all, and the first bytes of a TLS record (a ClientHello that never ends).
    const stalls = [closedAfter(null), closedAfter(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]))];
    expect((await trusting(hall.caCert)(`https://127.0.0.1:${hub.ports.http}/api/health`)).status).toBe(200);
    for (const ms of await Promise.all(stalls)) {
      expect(ms).toBeGreaterThanOrEqual(400);
      expect(ms).toBeLessThan(5000);
    }
  });

  it('--plain-http behind a trusted proxy: X-Forwarded-Proto makes the cookie Secure and X-Forwarded-For is the client address; from an untrusted address both are ignored', async () => {
    const attempt = async (hub: Hub) => {
      await hub.web.users.add('test', { name: 'sup', role: 'supervisor', password: 'right-password-1' });
      const r = await fetch(`http://127.0.0.1:${hub.ports.http}/api/hall/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' },
        body: JSON.stringify({ name: 'sup', password: 'right-password-1' }),
      });
      expect(r.status).toBe(200);
      const entry = hub.web.audit.recent(10).find((a) => a.actor === 'sup' && a.action === 'login')!;
      return { cookie: r.headers.get('set-cookie')!, from: (JSON.parse(entry.detail) as { from: string }).from };
    };
    const proxied = await attempt(await hubWith({ http: { host: '127.0.0.1', port: 0, plain: true, trustProxy: ['127.0.0.1/8'] } }));
    expect(proxied.cookie).toMatch(/; Secure/);
    expect(proxied.from).toBe('203.0.113.9');
    const direct = await attempt(await hubWith({ http: { host: '127.0.0.1', port: 0, plain: true, trustProxy: ['192.0.2.1'] } }));
    expect(direct.cookie).not.toMatch(/Secure/);
    expect(direct.from).toBe('127.0.0.1');
  });

  it('plain HTTP on a non-loopback address logs a warning; on loopback, or as HTTPS, it does not', async () => {
    const warned = async (over: Partial<HubConfigInput>) => {
      const cap = captureLog('info');
      await hubWith(over, cap.log);
      return cap.find('plain HTTP on a non-loopback address').length;
    };
    expect(await warned({ mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '0.0.0.0', port: 0 } })).toBe(1);
    expect(await warned({ mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } })).toBe(0);
    expect(await warned({ http: { host: '0.0.0.0', port: 0 } })).toBe(0);
  });
});

describe('enrolment pinned to the hall CA from the QR', () => {
  async function addDevice(hub: Hub): Promise<{ url: string; token: string; caFingerprint: string }> {
    const url = `https://127.0.0.1:${hub.ports.http}`;
    const r = await trusting(hall.caCert)(`${url}/api/devices`, {
      method: 'POST',
      headers: adminHeaders(hub),
      body: JSON.stringify({ window: '5', settings: { mode: 'walk-up', timeouts: { thanksS: 0.2, tooSoonS: 0, repeatIntervalS: 0 } } }),
    });
    expect(r.status).toBe(201);
    return { url, ...((await r.json()) as { token: string; caFingerprint: string }) };
  }

  it('a device enrols over HTTPS with the pinned CA, then connects to MQTT over TLS and its rating is stored', async () => {
    const hub = await hubWith();
    const { url, token, caFingerprint } = await addDevice(hub);
    expect(caFingerprint).toBe(hall.caFingerprint);
    const devDir = join(dir, 'dev-ok');
    const { enrolment } = await enrol(devDir, url, token, FIRMWARE_VERSION, { caSha256: caFingerprint });
    expect(enrolment.ca).toBe(hall.caCert);
    expect(enrolment.mqttUrl).toBe(`mqtts://127.0.0.1:${hub.ports.mqtts}`);
    const buttons = new VirtualButtons(5);
    const agent = Agent.open({
      dataDir: devDir,
      buttons,
      display: new VirtualDisplay(),
      log: silentLog(),
      clockSynced: () => true,
      link: { ackTimeoutMs: 3000 },
    });
    cleanups.push(() => agent.stop());
    await agent.start();
    await waitFor(() => agent.link.connected, 'device connected over MQTT TLS');
    buttons.press(0);
    await waitFor(() => hub.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ratings').get()!.n === 1, 'rating stored at the hub');
  }, 30_000);

  it('a man-in-the-middle with a certificate from a second CA is refused: nothing is sent or written, and the token still works at the real hub', async () => {
    const hub = await hubWith();
    const { url, token, caFingerprint } = await addDevice(hub);
    const toHub = trusting(hall.caCert);
    const seen: string[] = [];
    let substituteCa = false;
    // A TLS-terminating relay with the second CA's certificate for the same address: it passes
    // everything on to the real hub, or answers the CA question with its own CA.
    const relay: Server = createServer({ key: mitm.serverKey, cert: mitm.serverCert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        seen.push(`${req.method} ${req.url}`);
        if (substituteCa && req.url === '/api/enrol/ca')
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ca: mitm.caCert }));
        const r = await toHub(`${url}${req.url}`, {
          method: req.method,
          headers: { 'content-type': 'application/json' },
          body: chunks.length ? Buffer.concat(chunks) : undefined,
        });
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => relay.close(r)));
    const mitmUrl = `https://127.0.0.1:${(relay.address() as { port: number }).port}`;

    // 1. The relay passes the real CA through: its fingerprint matches, but the TLS handshake
    //    is checked against that CA alone, so the token is never sent.
    const devDir = join(dir, 'dev-mitm');
    const e1 = await enrol(devDir, mitmUrl, token, FIRMWARE_VERSION, { caSha256: caFingerprint }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(EnrolmentError);
    expect((e1 as Error).message).toMatch(
      /^refusing to enrol: the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not from the pinned hall CA .*the token was not sent$/,
    );
    // 2. The relay shows its own CA: the fingerprint from the QR does not match.
    substituteCa = true;
    const e2 = await enrol(devDir, mitmUrl, token, FIRMWARE_VERSION, { caSha256: caFingerprint }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(EnrolmentError);
    expect((e2 as Error).message).toBe(
      `refusing to enrol: ${mitmUrl} shows hall CA ${mitm.caFingerprint}, not ${hall.caFingerprint} from the enrolment token — the wrong hub or a man-in-the-middle; nothing was sent or written`,
    );

    expect(seen).toEqual(['GET /api/enrol/ca', 'GET /api/enrol/ca']);
    expect(() => readdirSync(devDir)).toThrow(/ENOENT/); // not even the data directory
    const { enrolment } = await enrol(devDir, url, token, FIRMWARE_VERSION, { caSha256: caFingerprint });
    expect(enrolment.ca).toBe(hall.caCert);
  }, 30_000);

  it('a pinned CA needs an https:// hub address, and a malformed fingerprint is refused before anything is sent', async () => {
    const devDir = join(dir, 'dev-bad');
    mkdirSync(devDir, { recursive: true });
    await expect(enrol(devDir, 'http://127.0.0.1:1', 't', FIRMWARE_VERSION, { caSha256: hall.caFingerprint })).rejects.toThrow(
      /must be https:\/\//,
    );
    await expect(enrol(devDir, 'https://127.0.0.1:1', 't', FIRMWARE_VERSION, { caSha256: 'AB:CD' })).rejects.toThrow(/64 hex digits/);
    expect(readdirSync(devDir)).toEqual([]);
  });
});
