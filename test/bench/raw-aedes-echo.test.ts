/**
 * bench/raw-aedes-echo.ts with --check, from dist/ as bench:hub runs it: the hub's floor (aedes
 * plus the hub's own per-record check, nothing stored). Its figure is only a floor if it does the
 * check: a forged record or one from an unknown device is never acknowledged, and good records
 * are acknowledged in the hub's ack format.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { exportPublicKey, generateDeviceKeys, GENESIS_HASH, recordHash, topic, type RatingRecord } from '../../protocol/index.js';
import { walkUpRating } from '../../bench/walk-up-record.js';

const HALL = 'bench-hall';
let child: ChildProcess | null = null;
let dir = '';
let clients: mqtt.MqttClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  clients = [];
  child?.kill('SIGKILL');
  child = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("acknowledges only records that pass the hub's check, together per device and turn, in the hub's ack format", async () => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-echo-'));
  const keys = generateDeviceKeys();
  const other = generateDeviceKeys();
  const records: RatingRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= 3; seq++) {
    const r = walkUpRating({ hall: HALL, device: 'ev-0001', seq, prev, level: 5, at: Date.now(), mono: seq * 30_000 }, keys.privateKey);
    prev = recordHash(r);
    records.push(r);
  }
  // Signed with another key: the echo without --check would acknowledge it.
  const forged = walkUpRating({ hall: HALL, device: 'ev-0001', seq: 4, prev, level: 1, at: Date.now(), mono: 120_000 }, other.privateKey);
  // A device the floor has no key for.
  const stranger = walkUpRating(
    { hall: HALL, device: 'ev-0002', seq: 1, prev: GENESIS_HASH, level: 5, at: Date.now(), mono: 30_000 },
    other.privateKey,
  );
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ hall: HALL, keys: { 'ev-0001': exportPublicKey(keys.publicKey) } }));

  const echo = spawn(process.execPath, ['dist/bench/raw-aedes-echo.js', '--check', keysFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = echo;
  let stderr = '';
  echo.stderr!.on('data', (b: Buffer) => (stderr += String(b)));
  const { port } = await new Promise<{ port: number }>((res) =>
    echo.stdout!.once('data', (b) => res(JSON.parse(String(b)) as { port: number })),
  );

  const acks: { topic: string; body: { v: number; acks: { seq: number; id: string }[]; rejects: unknown[] } }[] = [];
  clients = await Promise.all(['ev-0001', 'ev-0002'].map((id) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: id })));
  for (const [i, c] of clients.entries()) {
    await c.subscribeAsync(topic(HALL, `ev-000${i + 1}`, 'ack'), { qos: 1 });
    c.on('message', (t, p) => acks.push({ topic: t, body: JSON.parse(String(p)) as (typeof acks)[number]['body'] }));
  }
  // Published without waiting: the three good ones reach the echo together, mostly in one turn of its event loop.
  const [a, b] = clients as [mqtt.MqttClient, mqtt.MqttClient];
  const sent = [...records, forged].map((r) => a.publishAsync(topic(HALL, 'ev-0001', 'rating'), JSON.stringify(r), { qos: 1 }));
  sent.push(b.publishAsync(topic(HALL, 'ev-0002', 'rating'), JSON.stringify(stranger), { qos: 1 }));
  await Promise.all(sent);
  await expect.poll(() => acks.flatMap((x) => x.body.acks).length, { timeout: 5000 }).toBe(3);
  await new Promise((r) => setTimeout(r, 300)); // nothing more comes

  expect(acks.every((x) => x.topic === topic(HALL, 'ev-0001', 'ack'))).toBe(true);
  expect(acks.flatMap((x) => x.body.acks)).toEqual(records.map((r) => ({ seq: r.seq, id: r.id })));
  expect(acks.length).toBeLessThan(3); // acknowledged together, not one message a record
  for (const x of acks) expect(x.body).toMatchObject({ v: 1, rejects: [] });
  expect(stderr).toContain("failed the hub's check");
});

it('with --fail-fast, exits with status 1 at the first record that fails the check (bench:hub would otherwise wait for ever)', async () => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-echo-'));
  const keys = generateDeviceKeys();
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ hall: HALL, keys: { 'ev-0001': exportPublicKey(keys.publicKey) } }));
  const echo = spawn(process.execPath, ['dist/bench/raw-aedes-echo.js', '--check', keysFile, '--fail-fast'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  child = echo;
  const exited = new Promise<number | null>((res) => echo.once('exit', (code) => res(code)));
  const { port } = await new Promise<{ port: number }>((res) =>
    echo.stdout!.once('data', (b) => res(JSON.parse(String(b)) as { port: number })),
  );
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'ev-0001', reconnectPeriod: 0 });
  clients = [c];
  const forged = walkUpRating(
    { hall: HALL, device: 'ev-0001', seq: 1, prev: GENESIS_HASH, level: 1, at: Date.now(), mono: 30_000 },
    generateDeviceKeys().privateKey,
  );
  c.publish(topic(HALL, 'ev-0001', 'rating'), JSON.stringify(forged), { qos: 1 });
  expect(await exited).toBe(1);
});
