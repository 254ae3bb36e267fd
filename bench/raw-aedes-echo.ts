/**
 * The baseline for bench/hub-ingest.ts: a bare aedes broker (no authentication, no ACL, no
 * storage) that answers every QoS 1 message on …/rating with a QoS 1 message on …/ack — the
 * same round trip a device makes with the hub, minus everything the hub does in between.
 * Prints its port on stdout and runs until SIGTERM.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

// concurrency 0 as in the hub: with aedes' default (100) this echo, too, dies of a stack
// overflow in mqemitter's queue under 1,000 devices (see hub/broker/broker.ts).
const aedes = await Aedes.createBroker({ heartbeatInterval: 60_000, concurrency: 0 });
aedes.on('publish', (packet, client) => {
  if (!client || !packet.topic.endsWith('/rating')) return;
  const ack = packet.topic.slice(0, -'rating'.length) + 'ack';
  aedes.publish({ cmd: 'publish', topic: ack, payload: packet.payload, qos: 1, retain: false, dup: false }, () => {});
});
const server = createServer(aedes.handle);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port, pid: process.pid })));
process.on('SIGTERM', () => aedes.close(() => server.close(() => process.exit(0))));
