/**
 * The hub's composition root: database, registry, broker with its policy hooks, ingest,
 * forwarder and HTTP API, each started and stopped in order.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { encode, parseTopic, topic, type Ack, type DeviceConfig } from '../protocol/index.js';
import { writeFileAtomic } from '../device/storage/atomic-file.js';
import { buildApi } from './api/server.js';
import { ApiTokens } from './api/tokens.js';
import { startBroker, type RunningBroker } from './broker/broker.js';
import { authenticateHook } from './broker/hooks/authenticate.js';
import { HubConfigSchema, type HubConfig, type HubConfigInput } from './config.js';
import type { HubEvents } from './events.js';
import { Forwarder } from './forwarder/forwarder.js';
import { Ingest } from './ingest/ingest.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Registry } from './registry/registry.js';
import { DeviceStatusStore } from './status/device-status.js';
import { openHubDb, type Db } from './store/db.js';
import { HallWeb } from './web/hall-web.js';

export const ADMIN_TOKEN_FILE = 'admin.token';

export interface Hub {
  config: HubConfig;
  db: Db;
  registry: Registry;
  tokens: ApiTokens;
  metrics: Metrics;
  broker: RunningBroker;
  ingest: Ingest;
  forwarder: Forwarder | null;
  web: HallWeb;
  api: FastifyInstance;
  events: EventEmitter<HubEvents>;
  ports: { mqtt: number | null; mqtts: number | null; http: number };
  /** The first admin token, if this start created it. */
  adminToken: string | null;
  pushConfig(config: DeviceConfig): void;
  close(): Promise<void>;
}

export async function startHub(input: HubConfigInput, log: Logger): Promise<Hub> {
  const config = HubConfigSchema.parse(input);
  mkdirSync(config.dataDir, { recursive: true });
  const db = openHubDb(join(config.dataDir, 'hub.db'));
  const metrics = createMetrics();
  const registry = new Registry(db, config.hall);
  const tokens = new ApiTokens(db);
  const events = new EventEmitter<HubEvents>();
  const status = new DeviceStatusStore(db, log.child({ part: 'status' }), (device, st) => events.emit('status', device, st));
  // Listens from before the broker starts, so the wall sees every device connect.
  const web = new HallWeb({ db, registry, status, events, log, metrics, config: config.web, dataDir: config.dataDir });
  await web.ensureInitialAdmin();

  // The first start makes an admin token and leaves it where only root can read it.
  let adminToken: string | null = null;
  if (!tokens.hasAdmin()) {
    adminToken = tokens.create('initial admin', 'admin', process.env.HCP_ADMIN_TOKEN || undefined);
    writeFileAtomic(join(config.dataDir, ADMIN_TOKEN_FILE), adminToken + '\n', 0o600);
    log.info({ file: join(config.dataDir, ADMIN_TOKEN_FILE) }, 'created the first admin API token');
  }

  const tls = config.mqtt.tls
    ? { port: config.mqtt.tls.port, key: readFileSync(config.mqtt.tls.keyFile), cert: readFileSync(config.mqtt.tls.certFile), ca: config.mqtt.tls.caFile ? readFileSync(config.mqtt.tls.caFile) : undefined }
    : null;
  const broker = await startBroker({
    host: config.mqtt.host,
    port: config.mqtt.port,
    tls,
    log: log.child({ part: 'broker' }),
    hooks: { authenticate: authenticateHook(registry, log.child({ part: 'auth' }), (reason) => metrics.rejected.inc({ reason: `auth-${reason}` })) },
  });
  const aedes = broker.aedes;

  const publish = (t: string, payload: Buffer, retain: boolean) =>
    aedes.publish({ cmd: 'publish', topic: t, payload, qos: 1, retain, dup: false }, (e) => {
      if (e) log.error({ err: e, topic: t }, 'publish failed');
    });
  const publishAck = (hall: string, device: string, ack: Ack) => publish(topic(hall, device, 'ack'), encode('ack', ack), false);
  const pushConfig = (c: DeviceConfig) => {
    publish(topic(c.hall, c.device, 'config'), encode('config', c), true);
    events.emit('config', c);
  };

  const forwarder = config.province
    ? new Forwarder({
        db,
        url: config.province.url,
        log: log.child({ part: 'forwarder' }),
        metrics,
        batchSize: config.province.batchSize,
        lingerMs: config.province.lingerMs,
        timeoutMs: config.province.timeoutMs,
        headers: config.province.headers,
      })
    : null;

  const ingest = new Ingest({
    db,
    registry,
    log: log.child({ part: 'ingest' }),
    metrics,
    publishAck,
    lingerMs: config.ingest.lingerMs,
    maxBatch: config.ingest.maxBatch,
    onStored: (records) => {
      forwarder?.kick();
      events.emit('stored', records);
    },
  });

  aedes.on('publish', (packet, client) => {
    if (!client) return; // our own publishes
    const addr = parseTopic(packet.topic);
    if (addr?.kind === 'rating') ingest.submit(client.id, packet.topic, packet.payload as Buffer);
    else if (addr?.kind === 'status') status.submit(client.id, packet.topic, packet.payload as Buffer);
  });
  aedes.on('clientReady', (c) => {
    metrics.connected.set(aedes.connectedClients);
    events.emit('connected', c.id);
  });
  aedes.on('clientDisconnect', (c) => {
    metrics.connected.set(aedes.connectedClients);
    events.emit('disconnected', c.id);
  });

  // aedes keeps retained messages in memory: after a restart, give every device its config again.
  for (const d of registry.list()) if (d.enrolled_at !== null && d.revoked_at === null) pushConfig(registry.config(d));

  const api = await buildApi({
    db,
    registry,
    tokens,
    status,
    forwarder,
    metrics,
    events,
    log,
    mqtt: { url: config.mqtt.publicUrl, port: tls ? tls.port : (broker.ports.tcp ?? 0), tls: !!tls, ca: tls?.ca?.toString() ?? null },
    pushConfig,
    web,
  });
  await api.listen({ host: config.http.host, port: config.http.port });
  const httpPort = (api.server.address() as { port: number }).port;
  forwarder?.start();
  web.start();

  const ports = { mqtt: broker.ports.tcp, mqtts: broker.ports.tls, http: httpPort };
  log.info({ hall: config.hall, ...ports }, 'hub ready');

  let closed = false;
  return {
    config,
    db,
    registry,
    tokens,
    metrics,
    broker,
    ingest,
    forwarder,
    web,
    api,
    events,
    ports,
    adminToken,
    pushConfig,
    async close() {
      if (closed) return;
      closed = true;
      web.stop(); // ends live streams, or api.close() would wait for them
      await api.close();
      await broker.close();
      ingest.close(); // commits what is queued; the acks go nowhere, the devices resend
      await forwarder?.stop();
      db.close();
      log.info('hub stopped');
    },
  };
}
