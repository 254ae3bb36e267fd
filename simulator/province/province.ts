/**
 * The stand-in provincial 好差评 platform: accepts batches of evaluations over HTTP(S) — or from
 * an MQTT broker, answering on a reply topic — in the format of a province profile (our native
 * JSON or the common public fields), keeps each one once (idempotent by the profile's key
 * field), and counts what it received twice: at-least-once on the wire is expected,
 * accepted-twice never is. It can check request authentication like a province would, and
 * misbehave on purpose (faults.ts). Runs with `haochaping province`.
 */
import type { Socket } from 'node:net';
import Database from 'better-sqlite3';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { z } from 'zod';
import { verifyAuth, type RequestAuth } from '../../hub/forwarder/auth.js';
import { buildReply, checkItem, type ItemStatus } from '../../hub/forwarder/mapping.js';
import { MESSAGE_STREAMS, type MessageStream } from '../../hub/forwarder/message-kinds.js';
import { keyField, loadProfile, streamKeyField, streamView, type Profile } from '../../hub/forwarder/profile.js';
import { drawFault, FaultsSchema, ruleMatcher, type Faults, type FaultsInput, type RequestFault } from './faults.js';

export interface ProvinceOptions {
  host?: string;
  port?: number;
  /** SQLite file, so the stand-in keeps what it accepted across restarts; ':memory:' by default. */
  dbPath?: string;
  log: Logger;
  /** The format it speaks: a profile object, a shipped profile's name or a profile file (default: native). */
  profile?: Profile | string;
  /** Request authentication it insists on (default: none). */
  auth?: RequestAuth;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  faults?: FaultsInput;
  /**
   * Also take batches from an MQTT broker: subscribes to `topic` (wildcards allowed) and answers
   * each batch on the same topic with its last level replaced by `replyLevel` (default "results"),
   * the hub's default topic pair.
   */
  mqtt?: { url: string; topic: string; replyLevel?: string; clientId?: string };
  random?: () => number;
}

export interface ProvinceStats {
  /** HTTP requests (or MQTT batches) received. */
  requests: number;
  /** Evaluations received, counting each copy. */
  received: number;
  /** Distinct evaluations stored. */
  accepted: number;
  /** Copies of evaluations already stored: the price of at-least-once on the wire. */
  duplicatesReceived: number;
  /** Evaluations refused (by a rule or because a field is invalid). */
  rejected: number;
  /** Requests being handled right now (e.g. held by the slow fault). */
  inFlight: number;
  /** Faults injected so far, by kind. */
  faults: Record<string, number>;
  /** Evaluations it counts: accepted and not invalidated (an appeal found them invalid). */
  counted: number;
  /** Evaluations invalidated. */
  invalidated: number;
  /** Work-order milestones, invalidations, hand-offs: per stream, like the evaluation counts above. */
  messages: Record<string, { received: number; accepted: number; duplicatesReceived: number; rejected: number }>;
}

export interface Province {
  url: string;
  port: number;
  app: FastifyInstance;
  db: Database.Database;
  profile: Profile;
  stats(): ProvinceStats;
  faults(): Faults;
  setFaults(f: FaultsInput): Faults;
  /** With `mqtt`: whether the subscription to the batch topic is in place right now. */
  mqttSubscribed(): boolean;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startProvince(o: ProvinceOptions): Promise<Province> {
  const profile = typeof o.profile === 'object' ? o.profile : loadProfile(o.profile ?? 'native');
  const keyName = keyField(profile);
  const auth: RequestAuth = o.auth ?? { kind: 'none' };
  const random = o.random ?? Math.random;
  let faults = FaultsSchema.parse(o.faults ?? {});
  let refusedByRule = ruleMatcher(faults.rejectRules);
  let inFlight = 0;
  const log = o.log.child({ part: 'province' });

  const db = new Database(o.dbPath ?? ':memory:');
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS accepted (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, accepted_at INTEGER NOT NULL, received INTEGER NOT NULL DEFAULT 1, invalidated_by TEXT);
    CREATE TABLE IF NOT EXISTS messages (n INTEGER PRIMARY KEY, stream TEXT NOT NULL, id TEXT NOT NULL, evaluation_key TEXT, body TEXT NOT NULL, accepted_at INTEGER NOT NULL, received INTEGER NOT NULL DEFAULT 1, UNIQUE (stream, id));
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  `);
  const bump = db.prepare(
    'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
  );
  const insert = db.prepare('INSERT OR IGNORE INTO accepted (id, body, accepted_at) VALUES (?, ?, ?)');
  const again = db.prepare('UPDATE accepted SET received = received + 1 WHERE id = ?');
  const counterRows = db.prepare<[], { name: string; value: number }>('SELECT name, value FROM counters');
  const countAccepted = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM accepted');
  const countInvalidated = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM accepted WHERE invalidated_by IS NOT NULL');
  const countMessages = db.prepare<[], { stream: string; n: number }>('SELECT stream, count(*) AS n FROM messages GROUP BY stream');
  const insertMessage = db.prepare('INSERT OR IGNORE INTO messages (stream, id, evaluation_key, body, accepted_at) VALUES (?, ?, ?, ?, ?)');
  const messageAgain = db.prepare('UPDATE messages SET received = received + 1 WHERE stream = ? AND id = ?');
  const evaluationKnown = db.prepare<[string], { n: number }>('SELECT n FROM accepted WHERE id = ?');
  const invalidate = db.prepare('UPDATE accepted SET invalidated_by = ? WHERE id = ? AND invalidated_by IS NULL');

  const stats = (): ProvinceStats => {
    const c = new Map(counterRows.all().map((r) => [r.name, r.value]));
    const stored = new Map(countMessages.all().map((r) => [r.stream, r.n]));
    const accepted = countAccepted.get()!.n;
    const invalidated = countInvalidated.get()!.n;
    const messages = Object.fromEntries(
      Object.keys(profile.messages).map((st) => [
        st,
        {
          received: c.get(`${st}:received`) ?? 0,
          accepted: stored.get(st) ?? 0,
          duplicatesReceived: c.get(`${st}:duplicates`) ?? 0,
          rejected: c.get(`${st}:rejected`) ?? 0,
        },
      ]),
    );
    return {
      counted: accepted - invalidated,
      invalidated,
      messages,
      requests: c.get('requests') ?? 0,
      received: c.get('received') ?? 0,
      accepted: countAccepted.get()!.n,
      duplicatesReceived: c.get('duplicates') ?? 0,
      rejected: c.get('rejected') ?? 0,
      inFlight,
      faults: Object.fromEntries([...c].filter(([k]) => k.startsWith('fault:')).map(([k, v]) => [k.slice(6), v])),
    };
  };

  /** Stores a batch in one transaction: each item accepted, duplicate or rejected. */
  const processItems = (items: unknown[]) => {
    const now = Date.now();
    return db.transaction(() => {
      bump.run('requests', 1);
      return items.map((item): { key: string; status: ItemStatus; reason?: string } => {
        bump.run('received', 1);
        const rawKey = (item as Record<string, unknown> | null)?.[keyName];
        const key = typeof rawKey === 'string' ? rawKey : '';
        const invalid = checkItem(profile, item) ?? refusedByRule(item);
        if (invalid) {
          bump.run('rejected', 1);
          return { key, status: 'rejected', reason: invalid };
        }
        if (insert.run(key, JSON.stringify(item), now).changes === 1) return { key, status: 'accepted' };
        again.run(key);
        bump.run('duplicates', 1);
        return { key, status: 'duplicate' };
      });
    })();
  };

  /**
   * A batch of work-order milestones, invalidations or hand-offs: each stored once per key. Each
   * must name an evaluation this province has (a platform cannot attach a milestone to nothing);
   * an invalidation takes its evaluation out of what is counted — the evaluation stays stored.
   */
  const processMessages = (stream: MessageStream, items: unknown[]) => {
    const now = Date.now();
    const view = streamView(profile, stream);
    const keyName = streamKeyField(profile, stream);
    const evalName = profile.format === 'native' ? 'evaluationId' : profile.messages[stream]?.fields.evaluationKey;
    return db.transaction(() => {
      bump.run('requests', 1);
      const results = items.map((item): { key: string; status: ItemStatus; reason?: string } => {
        bump.run(`${stream}:received`, 1);
        const o = (typeof item === 'object' && item !== null && !Array.isArray(item) ? item : {}) as Record<string, unknown>;
        const key = typeof o[keyName] === 'string' ? (o[keyName] as string) : '';
        const evaluationKey = evalName && typeof o[evalName] === 'string' ? (o[evalName] as string) : null;
        const refuse = (reason: string) => {
          bump.run(`${stream}:rejected`, 1);
          return { key, status: 'rejected' as const, reason };
        };
        if (!key || key.length > 128) return refuse(`${keyName} missing or not a string`);
        const ruled = refusedByRule(item);
        if (ruled) return refuse(ruled);
        if (MESSAGE_STREAMS[stream].evaluationBound) {
          if (!evaluationKey) return refuse(`${evalName ?? 'evaluation key'} missing`);
          if (!evaluationKnown.get(evaluationKey)) return refuse(`unknown evaluation ${evaluationKey}`);
        }
        if (insertMessage.run(stream, key, evaluationKey, JSON.stringify(item), now).changes === 1) {
          if (stream === 'invalidation') invalidate.run(key, evaluationKey);
          return { key, status: 'accepted' };
        }
        messageAgain.run(stream, key);
        bump.run(`${stream}:duplicates`, 1);
        return { key, status: 'duplicate' };
      });
      return buildReply(view, results);
    })();
  };

  /** Which stream a batch is: by the path it came to, else by its envelope. */
  const streamOfBatch = (body: unknown, path: string | null): { stream: 'evaluation' | MessageStream; items: unknown[] } | string => {
    const b = (body ?? {}) as Record<string, unknown>;
    const candidates: ('evaluation' | MessageStream)[] = path
      ? [path as MessageStream]
      : ['evaluation', ...(Object.keys(profile.messages) as MessageStream[])];
    for (const st of candidates) {
      if (st !== 'evaluation' && !(st in MESSAGE_STREAMS && profile.messages[st]))
        return `this province takes no ${st} messages (profile ${profile.name})`;
      const field = streamView(profile, st).request.itemsField;
      const list = b[field];
      if (!Array.isArray(list)) continue;
      if (list.length > 10_000) return 'at most 10000 items per batch';
      return { stream: st, items: list };
    }
    return `the batch must be an object with a "${profile.request.itemsField}" list (profile ${profile.name})${
      Object.keys(profile.messages).length
        ? `, or one of ${Object.values(profile.messages)
            .map((m) => `"${m.request.itemsField}"`)
            .join(', ')}`
        : ''
    }`;
  };

  /** Stores a batch of any stream and builds the reply in that stream's format. */
  const processBatch = (body: unknown, path: string | null): Record<string, unknown> | string => {
    const b = streamOfBatch(body, path);
    if (typeof b === 'string') return b;
    if (b.stream === 'evaluation') return buildReply(profile, processItems(b.items));
    return processMessages(b.stream, b.items);
  };

  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: 64 * 1024 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    ...(o.tls ? { https: { key: o.tls.key, cert: o.tls.cert } } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // The signature covers the exact bytes, so keep them.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    (req as unknown as { rawBody: string }).rawBody = body as string;
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch (e) {
      (e as { statusCode?: number }).statusCode = 400;
      done(e as Error, undefined);
    }
  });

  const held = new Set<Socket>();
  const count = (name: string) =>
    db.prepare('INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1').run(name);

  const handlePush = async (req: FastifyRequest, reply: FastifyReply, path: string | null) => {
    inFlight++;
    reply.raw.once('close', () => inFlight--);
    const refusal = verifyAuth(auth, req.headers, (req as unknown as { rawBody?: string }).rawBody ?? '', Date.now());
    if (refusal) return reply.code(401).send({ error: 'unauthorized', message: refusal });
    const fault: RequestFault = drawFault(faults, random);
    if (fault) count(`fault:${fault}`);
    if (fault === 'unavailable') {
      if (faults.retryAfterS > 0) reply.header('retry-after', String(faults.retryAfterS));
      return reply.code(503).send({ error: 'unavailable', message: '省平台维护中 (stand-in: unavailable)' });
    }
    if (fault === 'error500') return reply.code(500).send({ error: 'internal', message: 'stand-in: injected 500' });
    if (fault === 'throttle')
      return reply
        .code(429)
        .header('retry-after', String(faults.retryAfterS))
        .send({ error: 'throttled', message: 'stand-in: injected 429' });
    if (fault === 'timeout') {
      // Never answer; the client gives up (or close() ends it).
      reply.hijack();
      held.add(req.raw.socket);
      req.raw.socket.once('close', () => held.delete(req.raw.socket));
      return;
    }
    const answer = processBatch(req.body, path);
    if (typeof answer === 'string') return reply.code(400).send({ error: 'invalid-batch', message: answer });
    if (fault === 'drop') {
      // Stored, and the answer never leaves: the hub must send again and be told "duplicate".
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    if (fault === 'slow') await sleep(faults.slowMs);
    return answer;
  };
  // Evaluations and, told apart by their envelope, every other stream; or one stream per path.
  app.post('/api/evaluations', (req, reply) => handlePush(req, reply, null));
  app.post('/api/messages/:stream', (req, reply) => handlePush(req, reply, (req.params as { stream: string }).stream));

  app.get('/api/stats', async () => stats());

  app.get('/api/evaluations', async (req) => {
    const q = z
      .object({ after: z.coerce.number().int().default(0), limit: z.coerce.number().int().min(1).max(10_000).default(1000) })
      .parse(req.query);
    const rows = db
      .prepare<[number, number], { n: number; id: string; body: string; received: number; invalidated_by: string | null }>(
        'SELECT n, id, body, received, invalidated_by FROM accepted WHERE n > ? ORDER BY n LIMIT ?',
      )
      .all(q.after, q.limit);
    return {
      records: rows.map((r) => ({
        n: r.n,
        key: r.id,
        received: r.received,
        ...(r.invalidated_by ? { invalidatedBy: r.invalidated_by } : {}),
        record: JSON.parse(r.body) as unknown,
      })),
    };
  });

  // What it stored of the other streams (milestones, invalidations, hand-offs), in arrival order.
  app.get('/api/messages', async (req, reply) => {
    const r = z
      .object({
        stream: z.enum(Object.keys(MESSAGE_STREAMS) as [MessageStream, ...MessageStream[]]).optional(),
        evaluation: z.string().max(128).optional(),
        after: z.coerce.number().int().default(0),
        limit: z.coerce.number().int().min(1).max(10_000).default(1000),
      })
      .strict()
      .safeParse(req.query);
    if (!r.success) return reply.code(400).send({ error: 'invalid-query', message: z.prettifyError(r.error) });
    const q = r.data;
    const rows = db
      .prepare<
        [{ after: number; stream: string | null; evaluation: string | null; limit: number }],
        { n: number; stream: string; id: string; evaluation_key: string | null; body: string; received: number }
      >(
        'SELECT n, stream, id, evaluation_key, body, received FROM messages WHERE n > @after AND (@stream IS NULL OR stream = @stream) AND (@evaluation IS NULL OR evaluation_key = @evaluation) ORDER BY n LIMIT @limit',
      )
      .all({ after: q.after, stream: q.stream ?? null, evaluation: q.evaluation ?? null, limit: q.limit });
    return {
      messages: rows.map((m) => ({
        n: m.n,
        stream: m.stream,
        key: m.id,
        evaluationKey: m.evaluation_key,
        received: m.received,
        message: JSON.parse(m.body) as unknown,
      })),
    };
  });

  app.get('/api/health', async () => ({ ok: true }));

  const setFaults = (f: FaultsInput) => {
    const next = FaultsSchema.parse(f);
    refusedByRule = ruleMatcher(next.rejectRules);
    faults = next;
    log.info({ faults }, 'faults changed');
    return faults;
  };
  app.get('/admin/faults', async () => faults);
  app.put('/admin/faults', async (req, reply) => {
    const r = FaultsSchema.safeParse(req.body ?? {});
    if (!r.success) return reply.code(400).send({ error: 'invalid-faults', message: z.prettifyError(r.error) });
    return setFaults(req.body as FaultsInput);
  });
  app.patch('/admin/faults', async (req, reply) => {
    const merged = { ...faults, ...(req.body as object) };
    const r = FaultsSchema.safeParse(merged);
    if (!r.success) return reply.code(400).send({ error: 'invalid-faults', message: z.prettifyError(r.error) });
    return setFaults(merged);
  });

  let client: MqttClient | null = null;
  let subscribed = false;
  if (o.mqtt) {
    const m = o.mqtt;
    client = mqtt.connect(m.url, {
      clientId: m.clientId ?? `hcp-province-${process.pid}`,
      clean: true,
      reconnectPeriod: 200,
      resubscribe: true,
    });
    client.on('connect', () => client!.subscribe(m.topic, { qos: 1 }, (err) => (subscribed = !err)));
    client.on('close', () => (subscribed = false));
    client.on('error', (err) => log.warn({ err: err.message }, 'stand-in province: broker connection error'));
    client.on('message', (t, payload) => {
      // The same faults as over HTTP, seen from an MQTT sender: no answer, or a late one.
      const fault = drawFault(faults, random);
      if (fault) count(`fault:${fault}`);
      if (fault === 'unavailable' || fault === 'error500' || fault === 'timeout' || fault === 'throttle') return;
      let body: unknown;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        return void log.warn({ topic: t }, 'stand-in province: batch is not JSON');
      }
      const answer = processBatch(body, null);
      if (typeof answer === 'string') return void log.warn({ topic: t, err: answer }, 'stand-in province: invalid batch');
      if (fault === 'drop') return;
      const replyTopic = t
        .split('/')
        .slice(0, -1)
        .concat(m.replyLevel ?? 'results')
        .join('/');
      const send = () => client!.publish(replyTopic, JSON.stringify(answer), { qos: 1 });
      if (fault === 'slow') setTimeout(send, faults.slowMs);
      else send();
    });
  }

  await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
  const port = (app.server.address() as { port: number }).port;
  const host = o.host && o.host !== '0.0.0.0' ? o.host : '127.0.0.1';
  log.info({ port, profile: profile.name, auth: auth.kind, tls: !!o.tls, mqtt: o.mqtt?.url ?? null }, 'stand-in province ready');
  return {
    url: `${o.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    app,
    db,
    profile,
    stats,
    faults: () => faults,
    setFaults,
    mqttSubscribed: () => subscribed,
    async close() {
      for (const s of held) s.destroy();
      await client?.endAsync(true).catch(() => {});
      await app.close();
      db.close();
    },
  };
}
