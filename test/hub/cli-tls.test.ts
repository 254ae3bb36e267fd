/**
 * The hub as hall IT runs it: `haochaping hub tls init`, the hub process on TLS only, and
 * `haochaping hub device add | list | revoke | reenrol` and `hub token create` against it.
 * Runs the compiled CLI (dist/), like every process-level test.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Agent as HttpAgent, fetch as uFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, FIRMWARE_VERSION } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import { enrol } from '../../device/enrolment/enrolment.js';
import { makeHallPki } from '../../hub/tls/hall-ca.js';
import { topic } from '../../protocol/index.js';
import { CLI_PATH, freePort, spawnCli, stopProcess } from '../../simulator/processes.js';
import { silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';
import { run } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const cli = (args: string[]) => run(process.execPath, [CLI_PATH, ...args], 20_000);

function startAgent(dir: string): { agent: Agent; buttons: VirtualButtons; display: VirtualDisplay } {
  const buttons = new VirtualButtons(5);
  const display = new VirtualDisplay();
  const agent = Agent.open({ dataDir: dir, buttons, display, log: silentLog(), clockSynced: () => true, link: { ackTimeoutMs: 3000 } });
  return { agent, buttons, display };
}

describe('hall IT: TLS, device provisioning and tokens from the command line', () => {
  it('tls init → hub on mqtts and https only → device add (token + CA fingerprint in the QR) → a relay with another CA refused → enrol pinned and rate over TLS → list → revoke → re-enrol with a new key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-cli-'));
    cleanups.push(() => (process.env.KEEP ? undefined : rmSync(dir, { recursive: true, force: true })));
    const tlsDir = join(dir, 'tls');

    // 1. A hall CA and server certificate.
    const init = await cli(['hub', 'tls', 'init', '--out', tlsDir, '--hall', 'hall-9', '--host', 'localhost', '127.0.0.1']);
    expect(init.code, init.stderr).toBe(0);
    const fingerprint = /fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/.exec(init.stdout)?.[1];
    expect(fingerprint).toBeDefined();
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key']) expect(existsSync(join(tlsDir, f))).toBe(true);
    expect((await cli(['hub', 'tls', 'init', '--out', tlsDir, '--host', 'localhost'])).code).toBe(1); // never overwrites silently

    // 2. The hub on TLS only.
    const [mqtts, http] = [await freePort(), await freePort()];
    const hubUrl = `https://127.0.0.1:${http}`;
    const hubData = join(dir, 'hub');
    const hub: ChildProcess = spawnCli(
      [
        'hub',
        '--data',
        hubData,
        '--hall',
        'hall-9',
        '--host',
        '127.0.0.1',
        '--mqtts-port',
        String(mqtts),
        '--http-port',
        String(http),
        '--tls-key',
        join(tlsDir, 'server.key'),
        '--tls-cert',
        join(tlsDir, 'server.crt'),
        '--tls-ca',
        join(tlsDir, 'ca.crt'),
        '--log-level',
        'info',
      ],
      join(dir, 'hub.log'),
    );
    cleanups.push(async () => void (await stopProcess(hub)));
    await waitFor(
      () => existsSync(join(dir, 'hub.log')) && readFileSync(join(dir, 'hub.log'), 'utf8').includes('"hub ready"'),
      'hub ready',
      30_000,
    );
    // The command line checks the https:// hub against the hall CA, as devices do.
    const target = ['--hub', hubUrl, '--data', hubData, '--ca', join(tlsDir, 'ca.crt')];
    const dispatcher = new HttpAgent({ connect: { ca: readFileSync(join(tlsDir, 'ca.crt'), 'utf8') } });
    cleanups.push(() => dispatcher.close());
    const fetchHub = (path: string, init: Parameters<typeof uFetch>[1] = {}) => uFetch(`${hubUrl}${path}`, { ...init, dispatcher });
    // With TLS configured and no --mqtt-port, there is no plain MQTT listener at all.
    const ready = readFileSync(join(dir, 'hub.log'), 'utf8')
      .split('\n')
      .find((l) => l.includes('"hub ready"'))!;
    expect(JSON.parse(ready)).toMatchObject({ mqtt: null, mqtts: mqtts, https: true });
    // Signatures are checked with libsodium where sodium-native ships a binary (protocol/ed25519.ts).
    if (['x64', 'arm64'].includes(process.arch)) expect(JSON.parse(ready)).toMatchObject({ signatures: 'libsodium' });
    expect(readFileSync(join(dir, 'hub.log'), 'utf8')).not.toContain('plain MQTT (no TLS)');

    // 3. device add: the token, the command for the device with the hall CA's fingerprint, and a QR code in the terminal.
    const added = await cli(['hub', 'device', 'add', '--window', '12', '--name', '12号窗口 不动产', ...target]);
    expect(added.code, added.stderr).toBe(0);
    const token = /一次性登记令牌[^\n]*\n\s+(\S+)/.exec(added.stdout)?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const line = `haochaping device enrol --hub ${hubUrl} --token ${token} --ca-sha256 ${fingerprint}`;
    expect(added.stdout).toContain(line);
    expect(added.stdout.match(/[▀▄█]/g)!.length).toBeGreaterThan(200); // the QR code

    // 4a. Someone else's server at the hub's address (its own CA, made the same way): the
    //     device refuses it in one line, exits non-zero and writes nothing.
    const other = await makeHallPki({ hall: 'hall-9', hosts: ['127.0.0.1'] });
    const impostor = createServer({ key: other.serverKey, cert: other.serverCert }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ca: other.caCert }));
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => impostor.close(() => r())));
    const devDir = join(dir, 'dev');
    const args = line.split(' ').slice(1); // the QR's command without "haochaping"
    const impostorUrl = `https://127.0.0.1:${(impostor.address() as { port: number }).port}`;
    const refused = await cli([...args.map((a) => (a === hubUrl ? impostorUrl : a)), '--data', devDir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^haochaping device enrol: refusing to enrol: .* not .* from the enrolment token — the wrong hub or a man-in-the-middle; nothing was sent or written$/,
      ),
    ]);
    expect(existsSync(devDir)).toBe(false);

    // 4b. The device runs the QR's command against the real hub: the CA is pinned, and it rates over mqtts.
    const enrolled = await cli([...args, '--data', devDir]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain('(hall CA pinned)');
    expect(enrolled.stderr).toBe('');
    const enrolment = JSON.parse(readFileSync(join(devDir, 'enrolment.json'), 'utf8')) as { device: string; mqttUrl: string; ca: string };
    expect(enrolment.mqttUrl).toBe(`mqtts://127.0.0.1:${mqtts}`);
    expect(enrolment.ca).toBe(readFileSync(join(tlsDir, 'ca.crt'), 'utf8'));
    const d = startAgent(devDir);
    cleanups.push(() => d.agent.stop());
    await d.agent.start();
    await waitFor(() => d.agent.link.connected, 'device connected over TLS');
    d.buttons.press(0);
    await waitFor(() => d.agent.outbox.depth() === 0 && d.agent.outbox.stats().lastSeq === 1, 'rating acknowledged');

    // A foreign client over TLS: with the hall CA it is served; without it, it cannot even connect.
    const enr = JSON.parse(readFileSync(join(devDir, 'enrolment.json'), 'utf8')) as { device: string; password: string };
    const mosq = (ca: string[]) =>
      run('mosquitto_sub', [
        '-h',
        'localhost',
        '-p',
        String(mqtts),
        ...ca,
        '-V',
        'mqttv311',
        '-i',
        `${enr.device}`,
        '-u',
        enr.device,
        '-P',
        enr.password,
        '-t',
        topic('hall-9', enr.device, 'config'),
        '-C',
        '1',
        '-W',
        '5',
      ]);
    const withoutCa = await mosq(['--capath', '/etc/ssl/certs']); // the public CAs: they do not vouch for the hub
    expect(withoutCa.code).not.toBe(0);
    expect(withoutCa.stderr).toMatch(/certificate verify failed|protocol error|TLS/i);
    const withCa = await mosq(['--cafile', join(tlsDir, 'ca.crt')]);
    expect(withCa.code, withCa.stderr).toBe(0);
    expect(JSON.parse(withCa.stdout)).toMatchObject({ device: enr.device, window: '12' }); // its retained config
    await waitFor(() => d.agent.link.connected, 'agent back after the foreign client');
    const list = JSON.parse((await cli(['hub', 'device', 'list', '--json', ...target])).stdout) as {
      devices: { id: string; enrolled: boolean; health: { online: boolean; firmware: string | null } }[];
    };
    expect(list.devices).toEqual([
      expect.objectContaining({
        id: enrolment.device,
        enrolled: true,
        health: expect.objectContaining({ online: true, firmware: FIRMWARE_VERSION }),
      }),
    ]);
    // Without --hub the command finds the running hub where it said it listens (<data>/hub.url, https).
    expect(readFileSync(join(hubData, 'hub.url'), 'utf8').trim()).toBe(hubUrl);
    const human = await cli(['hub', 'device', 'list', '--data', hubData, '--ca', join(tlsDir, 'ca.crt')]);
    expect(human.stdout).toMatch(new RegExp(`${enrolment.device}\\s+12\\s+在线 online`));

    // 5. Revoke: the device is cut off at once and stays out.
    const rev = await cli(['hub', 'device', 'revoke', enrolment.device, ...target]);
    expect(rev.code, rev.stderr).toBe(0);
    await waitFor(() => !d.agent.link.connected, 'revoked device disconnected');
    d.buttons.press(1); // kept in its outbox, never accepted
    await new Promise((r) => setTimeout(r, 1500));
    expect(d.agent.link.connected).toBe(false);
    await d.agent.stop();

    // 6. Re-enrol: a new key and a new chain from seq 1 are accepted; the old identity is not.
    const re = await cli(['hub', 'device', 'reenrol', enrolment.device, '--json', ...target]);
    expect(re.code, re.stderr).toBe(0);
    const reAnswer = JSON.parse(re.stdout) as { token: string; caFingerprint: string; enrolCommand: string };
    expect(reAnswer.caFingerprint).toBe(fingerprint);
    expect(reAnswer.enrolCommand).toContain(`--ca-sha256 ${fingerprint}`);
    const newDir = join(dir, 'dev-new-sd-card');
    mkdirSync(newDir);
    await enrol(newDir, hubUrl, reAnswer.token, FIRMWARE_VERSION, { caSha256: reAnswer.caFingerprint });
    const d2 = startAgent(newDir);
    cleanups.push(() => d2.agent.stop());
    await d2.agent.start();
    await waitFor(() => d2.agent.link.connected, 're-enrolled device connected');
    d2.buttons.press(2);
    await waitFor(() => d2.agent.outbox.depth() === 0 && d2.agent.outbox.stats().lastSeq === 1, 'new chain from seq 1 acknowledged');
    const old = startAgent(devDir); // the old SD card, old key and secret
    cleanups.push(() => old.agent.stop());
    await old.agent.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(old.agent.link.connected).toBe(false);
    const after = JSON.parse((await cli(['hub', 'device', 'list', '--json', ...target])).stdout) as {
      devices: { keyEpoch: number; lastSeq: number; revoked: boolean }[];
    };
    expect(after.devices[0]).toMatchObject({ keyEpoch: 2, lastSeq: 1, revoked: false });
    const stats = (await (
      await fetchHub(`/api/stats`, { headers: { authorization: `Bearer ${readFileSync(join(hubData, 'admin.token'), 'utf8').trim()}` } })
    ).json()) as { stored: number; gaps: number };
    expect(stats).toMatchObject({ stored: 2, gaps: 0 });

    // 7. A token for the queue system, made from the command line, opens sessions.
    const tk = await cli(['hub', 'token', 'create', '--name', 'queue system', '--role', 'queue-system', '--json', ...target]);
    const qs = (JSON.parse(tk.stdout) as { token: string }).token;
    const open = await fetchHub(`/api/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${qs}`, 'content-type': 'application/json' },
      body: JSON.stringify({ window: '12', cases: ['BJ1'] }),
    });
    expect(open.status).toBe(201);
    expect((await cli(['hub', 'device', 'revoke', 'no-such-device', ...target])).code).toBe(3);
    const alarms = await cli(['hub', 'alarms', ...target]);
    expect(alarms.code, alarms.stderr).toBe(0);
    expect(alarms.stdout).toContain('无缺失记录 no missing records');
  }, 240_000);
});
