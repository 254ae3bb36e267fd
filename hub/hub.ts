/**
 * The hub's composition root: an ordered list of parts (common/lifecycle.ts) — the store,
 * first accounts, ledger, forwarders, fact sync, hall page, ingest, broker with its policy
 * hooks, defaults and the HTTP listener — started in that order after the configuration was
 * checked (preflight.ts), stopped in reverse. A part that fails to start stops the ones before
 * it; one that fails to stop does not keep the others running.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Aedes } from 'aedes';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import {
  ed25519Backend,
  encode,
  OversizedMessageError,
  parseTopic,
  PROTOCOL_VERSION,
  topic,
  type Ack,
  type DeviceConfig,
} from '../protocol/index.js';
import { writeFileAtomic } from '../common/atomic-file.js';
import { Parts, type Part } from '../common/lifecycle.js';
import { ensurePrivateDir, FileModeError } from '../common/private-files.js';
import { Alarms } from './alarms/alarms.js';
import { CitizenChannel } from './citizen/channel.js';
import { RESULTS_CSS_HASH, resultsPages } from './citizen/results.js';
import { boardStaffRoutes } from './citizen/staff-routes.js';
import { buildApi } from './api/server.js';
import { ApiTokens } from './api/tokens.js';
import { startBroker, type RunningBroker } from './broker/broker.js';
import { Connections } from './broker/connections.js';
import { authenticateHook } from './broker/hooks/authenticate.js';
import { authorizeForwardHook } from './broker/hooks/authorize-forward.js';
import { authorizePublishHook } from './broker/hooks/authorize-publish.js';
import { authorizeSubscribeHook } from './broker/hooks/authorize-subscribe.js';
import type { Denial } from './broker/hooks/denials.js';
import { RateLimiter } from './broker/rate-limit.js';
import type { HubConfig, HubConfigInput } from './config.js';
import type { HubEvents } from './events.js';
import { createForwarder } from './forwarder/create.js';
import type { Forwarder } from './forwarder/forwarder.js';
import { Ingest, type RejectReason } from './ingest/ingest.js';
import { defaultVerifyWorkers } from './ingest/verify-pool.js';
import { forwardCheckpoint, Ledger } from './ledger/ledger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { HallOps } from './ops.js';
import { HallVoiceClips } from './voice/hall-clips.js';
import { Registry } from './registry/registry.js';
import { RatingJudge } from './policy/rating-judge.js';
import { registerReleaseMetrics } from './releases/metrics.js';
import { Releases } from './releases/releases.js';
import { DefaultScheduler } from './sessions/default-scheduler.js';
import { SessionBook } from './sessions/session-book.js';
import { DeviceStatusStore } from './status/device-status.js';
import { alarmDeviceFaults } from './status/fault-alarms.js';
import { openHubDb, type Db } from './store/db.js';
import { HallWeb } from './web/hall-web.js';
import { FactSync } from './facts/fact-sync.js';
import { HallRecords } from './facts/hall-records.js';
import { loadHubSetup } from './preflight.js';
import { ConfigError } from '../common/config-error.js';
import { caFingerprint, HUB_URL_FILE, isLoopback, localUrl } from './tls/listener.js';

export const ADMIN_TOKEN_FILE = 'admin.token';

/** A start-up problem hall IT can fix (a file missing, a bad setting): said in one line, no stack. */
export class HubStartError extends ConfigError {
  override readonly name = 'HubStartError';
}

export interface Hub {
  config: HubConfig;
  db: Db;
  registry: Registry;
  tokens: ApiTokens;
  metrics: Metrics;
  broker: RunningBroker;
  ingest: Ingest;
  sessions: SessionBook;
  defaults: DefaultScheduler;
  alarms: Alarms;
  status: DeviceStatusStore;
  connections: Connections;
  ops: HallOps;
  forwarder: Forwarder | null;
  /** Sends hand-offs to the configured destination (12345, a department); null when none is configured. */
  handoff: Forwarder | null;
  web: HallWeb;
  /** Stored ratings → facts, 差评 work orders and alerts. */
  factSync: FactSync;
  /** The citizen's QR page (receipts, rate later), window boards and public results (hub/citizen/). */
  citizen: CitizenChannel;
  /** Signed daily checkpoints and the daily integrity audit. */
  ledger: Ledger;
  /** The hall's own voice recordings, fetched by every device. */
  voiceClips: HallVoiceClips;
  /** Fleet updates: release bundles, per-device targets and update states. */
  releases: Releases;
  api: FastifyInstance;
  events: EventEmitter<HubEvents>;
  ports: { mqtt: number | null; mqtts: number | null; http: number };
  /** The first admin token, if this start created it. */
  adminToken: string | null;
  pushConfig(config: DeviceConfig): void;
  close(): Promise<void>;
}

/** Seams for tests: the clock the sessions, defaults and ingest run on; the list of parts. */
export interface HubDeps {
  now?: () => number;
  /** Sees (and may change) the hub's parts before they start: a test adds one that fails. */
  parts?: (parts: Part[]) => Part[];
}

/** Broker refusals of rating messages count as ingest rejections, under ingest's reason names. */
function ratingRejectReason(d: Denial): RejectReason {
  if (d.reason === 'oversized' || d.reason === 'rate-limited' || d.reason === 'retained') return d.reason;
  if (d.reason === 'wrong-hall') return 'unknown-device';
  return 'topic-mismatch';
}

/** The parts' names in start order; they stop in the reverse order. */
export const HUB_PARTS = [
  'store',
  'accounts',
  'ledger',
  'forwarder',
  'handoff',
  'fact-sync',
  'hall-web',
  'ingest',
  'broker',
  'defaults',
  'http',
] as const;

export async function startHub(input: HubConfigInput, log: Logger, deps: HubDeps = {}): Promise<Hub> {
  // Everything checked (files, ports) before the first file is written or a socket opened.
  const setup = await loadHubSetup(input);
  const config = setup.config;
  const now = deps.now ?? Date.now;
  // One working-day calendar for the 7-day defaults and the 差评 deadlines alike.
  const calendar = setup.calendar;
  const dbPath = join(config.dataDir, 'hub.db');
  const events = new EventEmitter<HubEvents>();
  const metrics = createMetrics();
  const tls = setup.tls;
  const httpsOn = !!tls && !config.http.plain;

  // 差评 deadlines always count working days, so a calendar that stops at this year matters.
  const year = new Date(now()).getUTCFullYear();
  if (!calendar.covers(year) || !calendar.covers(year + 1)) {
    log.warn(
      { year: calendar.covers(year) ? year + 1 : year },
      "the holiday calendar does not know that year's official holidays yet: only weekends count as days off there; update the package or add them to the holiday file (--holiday-file)",
    );
  }

  // What the parts make as they start (the hub's fields); each is set by its part's start().
  let db!: Db;
  let registry!: Registry;
  let tokens!: ApiTokens;
  let alarms!: Alarms;
  let releases!: Releases;
  let status!: DeviceStatusStore;
  let sessions!: SessionBook;
  let web!: HallWeb;
  let factSync!: FactSync;
  let citizen!: CitizenChannel;
  let ops!: HallOps;
  let voiceClips!: HallVoiceClips;
  let ledger: Ledger | null = null;
  let forwarder: Forwarder | null = null;
  let handoff: Forwarder | null = null;
  let ingest: Ingest | null = null;
  let broker: RunningBroker | null = null;
  let defaults: DefaultScheduler | null = null;
  let api: FastifyInstance | null = null;
  let adminToken: string | null = null;
  let httpPort = 0;

  // The broker is the last of these to start, but the hooks, ingest and ops are made before
  // it: they reach it through this reference (publishing before it listens is a bug).
  let aedesRef: Aedes | null = null;
  const connections = new Connections(() => aedesRef!);
  const limiter = new RateLimiter({
    ratePerS: config.mqtt.limits.ratePerDevice,
    burst: config.mqtt.limits.burstPerDevice,
    maxDelayMs: config.mqtt.limits.maxDelayMs,
  });
  const brokerLog = log.child({ part: 'broker' });
  const onDenied = (d: Denial) => {
    metrics.brokerDenied.inc({ action: d.action, reason: d.reason });
    if (d.action === 'publish' && d.kind === 'rating') {
      // Counted and logged (with the device id) by ingest like every refused rating.
      ingest?.refuse(
        ratingRejectReason(d),
        d.client,
        `broker refused a rating from ${d.client} on ${d.topic}: ${d.reason}${d.detail ? ` (${d.detail})` : ''}`,
        d.payload,
      );
      return;
    }
    if (d.action === 'connect' || d.action === 'will') metrics.rejected.inc({ reason: `auth-${d.reason}` });
    brokerLog.warn({ client: d.client, action: d.action, reason: d.reason, topic: d.topic, detail: d.detail }, `refused ${d.action}`);
  };
  const publish = (t: string, payload: Buffer, retain: boolean) =>
    aedesRef!.publish({ cmd: 'publish', topic: t, payload, qos: 1, retain, dup: false }, (e) => {
      if (e) log.error({ err: e, topic: t }, 'publish failed');
    });
  // In slices that always fit the ack message's byte limit (a big group commit of one device).
  const ACK_SLICE = 200;
  const publishAck = (hall: string, device: string, ack: Ack) => {
    for (let i = 0; i === 0 || i < Math.max(ack.acks.length, ack.rejects.length); i += ACK_SLICE) {
      publish(
        topic(hall, device, 'ack'),
        encode('ack', {
          v: ack.v,
          acks: ack.acks.slice(i, i + ACK_SLICE),
          rejects: ack.rejects.slice(i, i + ACK_SLICE),
          ...(i === 0 && ack.head ? { head: ack.head } : {}),
        }),
        false,
      );
    }
  };
  const pushConfig = (c: DeviceConfig) => {
    let payload: Buffer;
    try {
      payload = encode('config', citizen.withKey(c));
    } catch (e) {
      // Settings changes are checked before they are stored (HallOps); this is a config made
      // before that check existed. The device keeps its last config; hall IT must shorten it.
      if (!(e instanceof OversizedMessageError)) throw e;
      log.error({ device: c.device, err: e.message }, 'config not sent: larger than the protocol allows');
      return;
    }
    publish(topic(c.hall, c.device, 'config'), payload, true);
    events.emit('config', c);
  };

  const parts: Part[] = [
    {
      // The data directory and the database, and what reads and writes only the database.
      name: 'store',
      start() {
        try {
          ensurePrivateDir(config.dataDir);
        } catch (e) {
          if (e instanceof FileModeError) throw new HubStartError(e.message);
          throw e;
        }
        db = openHubDb(dbPath);
        registry = new Registry(db, config.hall);
        tokens = new ApiTokens(db);
        alarms = new Alarms(db, log.child({ part: 'alarms' }), metrics, events);
        // Fleet updates: listens before the hall page does, so its tiles show the state just reported.
        releases = new Releases(db, config.dataDir, now, () => status.flush());
        events.on('status', (device, st) => releases.onStatus(device, st));
        registerReleaseMetrics(metrics.registry, releases);
        status = new DeviceStatusStore(
          db,
          log.child({ part: 'status' }),
          (device, st) => events.emit('status', device, st),
          Date.now,
          metrics,
          (id) => connections.isConnected(id),
        );
        alarmDeviceFaults({ events, alarms, status, registry });
        // The hall's flag policy, applied to each rating in the transaction that stores it.
        const judge = new RatingJudge(db, registry, metrics);
        sessions = new SessionBook({
          db,
          hall: config.hall,
          metrics,
          log: log.child({ part: 'sessions' }),
          period: { unit: config.defaults.unit, count: config.defaults.count },
          calendar,
          now,
          judge: judge.judge,
        });
        const records = new HallRecords({
          db,
          registry,
          rules: config.web,
          profile: setup.policy,
          calendar,
          now,
          hall: config.hall,
          handoffTarget: config.handoff?.name ?? null,
        });
        web = new HallWeb({ db, registry, status, events, log, metrics, config: config.web, records, dataDir: config.dataDir, now });
        factSync = new FactSync({ records, events, log, metrics, ingestWaiting: () => ingest?.waiting ?? 0 });
        ops = new HallOps({ registry, connections, sessions, publish, pushConfig, log: log.child({ part: 'ops' }), db });
        voiceClips = new HallVoiceClips(db, registry, ops, now);
        // The receipt/rate-later QR page: its link secret (made at the first start), the receipt key each device's config carries.
        citizen = new CitizenChannel({
          config,
          db,
          registry,
          sessions,
          calendar,
          now,
          log: log.child({ part: 'citizen' }),
          onQueued: (e) => {
            forwarder?.kick();
            events.emit('citizen', e.kind, e.follows ?? e.id, e.text);
          },
        });
      },
      stop() {
        status?.flush();
        db?.close();
      },
    },
    {
      // The first start makes an admin account and an admin token, left where only root can read them.
      name: 'accounts',
      async start() {
        await web.ensureInitialAdmin(setup.env.webAdminPassword);
        if (!tokens.hasAdmin()) {
          adminToken = tokens.create('initial admin', 'admin', setup.env.adminToken ?? undefined);
          writeFileAtomic(join(config.dataDir, ADMIN_TOKEN_FILE), adminToken + '\n', 0o600);
          log.info({ file: join(config.dataDir, ADMIN_TOKEN_FILE) }, 'created the first admin API token');
        }
      },
      stop() {},
    },
    {
      // Signed daily checkpoints and the daily integrity audit; an audit in progress is waited for.
      name: 'ledger',
      start() {
        ledger = new Ledger({
          db,
          dbPath,
          dataDir: config.dataDir,
          hall: config.hall,
          alarms,
          metrics,
          log: log.child({ part: 'ledger' }),
          now,
          forward: forwardCheckpoint(db),
        });
        ledger.start();
      },
      async stop() {
        ledger?.stop();
        await ledger?.drain();
      },
    },
    {
      name: 'forwarder',
      start() {
        forwarder = config.province
          ? createForwarder({
              config: config.province,
              files: setup.province ?? undefined,
              db,
              hall: config.hall,
              log: log.child({ part: 'forwarder' }),
              metrics,
              ingestBacklogged: () => ingest?.backlogged ?? false,
            })
          : null;
        forwarder?.start();
      },
      async stop() {
        await forwarder?.stop();
      },
    },
    {
      // 转办 (12345, a department): its own forwarder on the same durable table, its own metrics registry.
      name: 'handoff',
      start() {
        handoff = config.handoff
          ? createForwarder({
              config: config.handoff.destination,
              files: setup.handoff ?? undefined,
              db,
              hall: config.hall,
              log: log.child({ part: 'handoff', target: config.handoff.name }),
              metrics: createMetrics(),
              destination: 'handoff',
              ingestBacklogged: () => ingest?.backlogged ?? false,
            })
          : null;
        handoff?.start();
      },
      async stop() {
        await handoff?.stop();
      },
    },
    // Stored ratings → facts, 差评 work orders, alerts (listens from before ingest stores any).
    { name: 'fact-sync', start: () => factSync.start(), stop: () => factSync?.stop() },
    // The wall's live feed listens from before the broker starts, so it sees every device connect.
    { name: 'hall-web', start: () => web.start(), stop: () => web?.stop() },
    {
      name: 'ingest',
      start() {
        ingest = new Ingest({
          db,
          registry,
          log: log.child({ part: 'ingest' }),
          metrics,
          publishAck,
          lingerMs: config.ingest.lingerMs,
          maxBatch: config.ingest.maxBatch,
          verifyWorkers: config.ingest.verifyWorkers ?? defaultVerifyWorkers(),
          now,
          alarms,
          forward: sessions.onRecordStored,
          onStored: (records) => {
            forwarder?.kick();
            events.emit('stored', records);
          },
        });
      },
      async stop() {
        await ingest?.close(); // commits what is queued; the acks go nowhere, the devices resend
      },
    },
    {
      name: 'broker',
      async start() {
        broker = await startBroker({
          host: config.mqtt.host,
          port: config.mqtt.port,
          tls,
          log: brokerLog,
          maxPacketBytes: config.mqtt.limits.maxPacketBytes,
          connectTimeoutMs: config.mqtt.limits.connectTimeoutMs,
          onPacketTooBig: () => metrics.brokerDenied.inc({ action: 'packet', reason: 'oversized' }),
          hooks: {
            authenticate: authenticateHook(registry, connections, log.child({ part: 'auth' }), onDenied),
            authorizePublish: authorizePublishHook({
              hall: config.hall,
              connections,
              limiter,
              onThrottled: () => metrics.throttled.inc(),
              onDenied,
              log: brokerLog,
            }),
            authorizeSubscribe: authorizeSubscribeHook(config.hall, onDenied),
            authorizeForward: authorizeForwardHook(config.hall),
          },
        });
        const aedes = broker.aedes;
        aedesRef = aedes;
        const ing = ingest!;
        aedes.on('publish', (packet, client) => {
          if (!client) return; // our own publishes
          status.seen(client.id);
          const addr = parseTopic(packet.topic);
          if (addr?.kind === 'rating') ing.submit(client.id, packet.topic, packet.payload as Buffer);
          else if (addr?.kind === 'status') status.submit(client.id, packet.topic, packet.payload as Buffer);
        });
        // When a device subscribes to its acks, tell it how far the hub's chain for it goes: after a
        // restore from a backup the device sends again what it still holds beyond that.
        aedes.on('subscribe', (subs, c) => {
          if (!c) return;
          const d = registry.get(c.id);
          if (!d || !subs.some((s) => s.topic === topic(d.hall, d.id, 'ack'))) return;
          publishAck(d.hall, d.id, { v: PROTOCOL_VERSION, acks: [], rejects: [], head: { seq: d.chain_seq } });
        });
        aedes.on('clientReady', (c) => {
          metrics.connected.set(aedes.connectedClients);
          status.setOnline(c.id, true);
          events.emit('connected', c.id);
        });
        aedes.on('clientDisconnect', (c) => {
          connections.closed(c);
          limiter.forget(c.id);
          metrics.connected.set(aedes.connectedClients);
          if (!connections.isConnected(c.id)) status.setOnline(c.id, false);
          events.emit('disconnected', c.id);
        });
        // aedes keeps retained messages in memory: after a restart, give every device its config again.
        for (const d of registry.list()) if (d.enrolled_at !== null && d.revoked_at === null) pushConfig(registry.config(d));
      },
      async stop() {
        await broker?.close();
      },
    },
    {
      // 7-day 基本满意 defaults for sessions nobody rated.
      name: 'defaults',
      start() {
        defaults = new DefaultScheduler(
          sessions,
          log.child({ part: 'defaults' }),
          (made) => {
            forwarder?.kick();
            events.emit('defaulted', made);
          },
          now,
        );
        defaults.start(config.defaults.startGraceMs);
      },
      stop() {
        defaults?.stop();
      },
    },
    {
      // The token API and the hall page on one listener.
      name: 'http',
      async start() {
        api = await buildApi(
          {
            db,
            registry,
            tokens,
            status,
            forwarder,
            metrics,
            events,
            log,
            mqtt: {
              url: config.mqtt.publicUrl,
              port: tls ? (broker!.ports.tls ?? tls.port) : (broker!.ports.tcp ?? 0),
              tls: !!tls,
              ca: tls?.ca?.toString() ?? null,
              caFingerprint: tls?.ca ? caFingerprint(tls.ca) : null,
            },
            pushConfig,
            ops,
            sessions,
            alarms,
            web,
            voiceClips,
            citizen,
            releases,
          },
          {
            https: httpsOn ? { key: tls.key, cert: tls.cert } : null,
            trustProxy: config.http.trustProxy,
            handshakeTimeoutMs: config.mqtt.limits.connectTimeoutMs,
          },
        );
        // The citizen's pages under /citizen/ (what a gateway may publish) and the staff's board links.
        await citizen.register(
          api,
          [resultsPages(web, config.web.hallName ?? config.hall, config.citizen.resultsRefreshS)],
          [RESULTS_CSS_HASH],
        );
        await api.register(boardStaffRoutes, { citizen, web });
        await api.listen({ host: config.http.host, port: config.http.port });
        httpPort = (api.server.address() as { port: number }).port;
        // Where hall IT's commands on this machine find the running hub (scheme and port included).
        writeFileAtomic(join(config.dataDir, HUB_URL_FILE), `${localUrl(httpsOn, config.http.host, httpPort)}\n`, 0o600);
        if (!httpsOn && !isLoopback(config.http.host)) {
          log.warn(
            { host: config.http.host },
            'plain HTTP on a non-loopback address: API tokens, staff passwords, cookies and device secrets cross the network readable; configure TLS (--tls-key/--tls-cert) or listen on 127.0.0.1 behind a TLS reverse proxy (--trust-proxy)',
          );
        }
      },
      async stop() {
        await api?.close(); // the hall page's live streams are ended first (its preClose hook)
      },
    },
  ];
  const running = new Parts(deps.parts ? deps.parts(parts) : parts, log);
  await running.start();

  const ports = { mqtt: broker!.ports.tcp, mqtts: broker!.ports.tls, http: httpPort };
  // Which library checks the devices' signatures (protocol/ed25519.ts): OpenSSL alone where libsodium has no binary.
  log.info({ hall: config.hall, ...ports, https: httpsOn, signatures: ed25519Backend() }, 'hub ready');

  let closed = false;
  return {
    config,
    db,
    registry,
    tokens,
    metrics,
    broker: broker!,
    ingest: ingest!,
    sessions,
    defaults: defaults!,
    alarms,
    status,
    connections,
    ops,
    forwarder,
    handoff,
    web,
    factSync,
    citizen,
    ledger: ledger!,
    voiceClips,
    releases,
    api: api!,
    events,
    ports,
    adminToken,
    pushConfig,
    async close() {
      if (closed) return;
      closed = true;
      await running.stop();
      log.info('hub stopped');
    },
  };
}
