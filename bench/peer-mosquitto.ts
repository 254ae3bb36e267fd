/**
 * The peer baseline for bench/hub-ingest.ts (issue 14): the pipeline a hall would otherwise
 * assemble — Debian's mosquitto, plus one mqtt.js subscriber that stores every rating message
 * in SQLite (WAL, synchronous=FULL) in group commits and publishes an ack after each commit.
 * No authentication per device, no signature or chain check, no ACL: the hub does all of those
 * and should at least match this. Starts mosquitto on a free loopback port, prints
 * {"port", "pid" (mosquitto's), "subscriberPid"} on stdout once subscribed, runs until SIGTERM.
 * Options: --data DIR (where the SQLite file and mosquitto's config go).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { freePort } from '../simulator/processes.js';

const dir = process.argv[process.argv.indexOf('--data') + 1]!;
const port = await freePort();
const conf = join(dir, 'mosquitto.conf');
// max_inflight_messages 0: no cap on QoS 1 messages in flight per client (the subscriber
// receives every device's messages), max_queued_messages large: nothing dropped while it commits.
// Errors and warnings only, on the bench's stderr: by default mosquitto logs three lines a
// connection there, 3,000 lines of a 1,000-device run.
writeFileSync(
  conf,
  `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 1000000\nmax_connections -1\n` +
    'log_dest stderr\nlog_type error\nlog_type warning\nconnection_messages false\n',
);
const broker = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
await new Promise((r) => setTimeout(r, 300));

const db = new Database(join(dir, 'peer.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE messages (topic TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)');
const insert = db.prepare('INSERT INTO messages (topic, seq, body, received_at) VALUES (?, ?, ?, ?)');

let client: mqtt.MqttClient | null = null;
for (let i = 0; !client; i++) {
  try {
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'peer-store', clean: true, reconnectPeriod: 0 });
  } catch (e) {
    if (i > 50) throw e;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const c = client;
let queue: { topic: string; seq: number; body: string }[] = [];
let timer: NodeJS.Timeout | null = null;
// The same group commit as the hub's ingest: up to 500 messages, or what arrived within 2 ms.
const flush = () => {
  if (timer) clearTimeout(timer);
  timer = null;
  const batch = queue;
  queue = [];
  if (!batch.length) return;
  const now = Date.now();
  db.transaction(() => {
    for (const m of batch) insert.run(m.topic, m.seq, m.body, now);
  })();
  // One ack per device per commit, after the commit, as the hub does.
  const acks = new Map<string, { seq: number }[]>();
  for (const m of batch) {
    const t = m.topic.slice(0, -'rating'.length) + 'ack';
    const list = acks.get(t);
    if (list) list.push({ seq: m.seq });
    else acks.set(t, [{ seq: m.seq }]);
  }
  for (const [t, list] of acks) c.publish(t, JSON.stringify({ acks: list }), { qos: 1 });
};
c.on('message', (t, payload) => {
  let seq: number;
  try {
    seq = (JSON.parse(payload.toString()) as { seq: number }).seq; // to name it in the ack; nothing checked
  } catch {
    return;
  }
  queue.push({ topic: t, seq, body: payload.toString() });
  if (queue.length >= 500) flush();
  else timer ??= setTimeout(flush, 2);
});
// Every device's rating topic (hcp/v1/<hall>/<device>/rating).
await c.subscribeAsync('+/+/+/+/rating', { qos: 1 });
console.log(JSON.stringify({ port, pid: broker.pid, subscriberPid: process.pid }));
process.on('SIGTERM', () => {
  flush();
  c.end(true, () => {
    broker.kill('SIGTERM');
    db.close();
    process.exit(0);
  });
});
