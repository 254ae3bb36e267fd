/**
 * The baselines for bench/hub-ingest.ts: a bare aedes broker (no authentication, no ACL, no
 * storage) that answers every QoS 1 message on …/rating with a QoS 1 message on …/ack — the
 * same round trip a device makes with the hub, minus everything the hub does in between.
 *
 * With `--check KEYS` (a JSON file: the hall and each device's public key, SPKI base64) it is
 * the hub's floor: every message first passes the hub's own per-record check (`checkRating`:
 * decode and schema, topic and hall, Ed25519 signature, record hash) on the broker's thread, and
 * the records a device sent in one turn of the event loop are acknowledged together, in the
 * hub's ack format: the nearest a storeless echo comes to the hub's and the peer's one ack per
 * device per commit (it sends at least as many acks as they do). A message that fails the check
 * is not acknowledged. Nothing else of the hub: no store, no chain, no commit. What this costs a
 * record is what any hub on aedes that checks every signature must spend before it stores
 * anything; on a machine whose cores the load shares, where throughput follows CPU a record, a
 * verification thread (the hub's) moves that cost but does not remove it.
 * `--fail-fast`: exit with status 1 at the first message that fails the check (bench:hub, whose
 * devices would otherwise wait for that ack for ever).
 *
 * Prints {"port", "pid"} on stdout and runs until SIGTERM.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { importPublicKey, parseTopic } from '../protocol/index.js';
import { checkRating } from '../hub/ingest/check.js';

const failFast = process.argv.includes('--fail-fast');
const keysFile = process.argv.includes('--check') ? process.argv[process.argv.indexOf('--check') + 1] : undefined;
const check = keysFile
  ? (() => {
      const { hall, keys } = JSON.parse(readFileSync(keysFile, 'utf8')) as { hall: string; keys: Record<string, string> };
      const imported = new Map<string, KeyObject>(Object.entries(keys).map(([device, spki]) => [device, importPublicKey(spki)]));
      let refused = 0;
      return (topicName: string, clientId: string, payload: Buffer): { seq: number; id: string } | null => {
        const addr = parseTopic(topicName);
        const c = addr ? checkRating({ addr, topic: topicName, clientId, payload, hall, key: imported.get(addr.device) }) : null;
        if (c?.ok) return { seq: c.record.seq, id: c.record.id };
        if (++refused === 1) console.error(`echo: a message on ${topicName} failed the hub's check`);
        if (failFast) process.exit(1);
        return null;
      };
    })()
  : null;

// concurrency 0 as in the hub: with aedes' default (100) this echo, too, dies of a stack
// overflow in mqemitter's queue under 1,000 devices (see hub/broker/broker.ts).
const aedes = await Aedes.createBroker({ heartbeatInterval: 60_000, concurrency: 0 });
const ackTopic = (rating: string) => rating.slice(0, -'rating'.length) + 'ack';
const publish = (topic: string, payload: Buffer | string) =>
  aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, () => {});
/** --check: records checked in this turn of the event loop, by rating topic, acknowledged together. */
let checked: Map<string, { seq: number; id: string }[]> | null = null;
aedes.on('publish', (packet, client) => {
  if (!client || !packet.topic.endsWith('/rating')) return;
  if (!check) return publish(ackTopic(packet.topic), packet.payload as Buffer);
  const record = check(packet.topic, client.id, packet.payload as Buffer);
  if (!record) return;
  if (!checked) {
    const turn = (checked = new Map());
    setImmediate(() => {
      checked = null;
      for (const [t, acks] of turn) publish(ackTopic(t), JSON.stringify({ v: 1, acks, rejects: [] }));
    });
  }
  const list = checked.get(packet.topic);
  if (list) list.push(record);
  else checked.set(packet.topic, [record]);
});
const server = createServer(aedes.handle);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port, pid: process.pid })));
process.on('SIGTERM', () => aedes.close(() => server.close(() => process.exit(0))));
