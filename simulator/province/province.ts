/**
 * The stand-in provincial 好差评 platform: accepts batches of evaluations over HTTP, keeps
 * each one once (idempotent by id), and counts what it received twice — at-least-once on
 * the wire is expected, accepted-twice never is. Runs with `haochaping province`.
 */
import Database from 'better-sqlite3';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';

export interface ProvinceOptions {
  host?: string;
  port?: number;
  /** SQLite file, so the stand-in keeps what it accepted across restarts; ':memory:' by default. */
  dbPath?: string;
  log: Logger;
}

export interface ProvinceStats {
  requests: number;
  received: number;
  accepted: number;
  duplicatesReceived: number;
  rejected: number;
}

export interface Province {
  url: string;
  port: number;
  app: FastifyInstance;
  db: Database.Database;
  stats(): ProvinceStats;
  close(): Promise<void>;
}

const Batch = z.object({ records: z.array(z.record(z.string(), z.unknown())).max(10_000) });

export async function startProvince(o: ProvinceOptions): Promise<Province> {
  const db = new Database(o.dbPath ?? ':memory:');
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS accepted (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, accepted_at INTEGER NOT NULL, received INTEGER NOT NULL DEFAULT 1);
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  `);
  const bump = db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value');
  const insert = db.prepare('INSERT OR IGNORE INTO accepted (id, body, accepted_at) VALUES (?, ?, ?)');
  const again = db.prepare('UPDATE accepted SET received = received + 1 WHERE id = ?');
  const counter = (name: string) => db.prepare<[string], { value: number }>('SELECT value FROM counters WHERE name = ?').get(name)?.value ?? 0;

  const stats = (): ProvinceStats => ({
    requests: counter('requests'),
    received: counter('received'),
    accepted: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM accepted').get()!.n,
    duplicatesReceived: counter('duplicates'),
    rejected: counter('rejected'),
  });

  const app: FastifyInstance = Fastify({ loggerInstance: o.log.child({ part: 'province' }) as FastifyBaseLogger, bodyLimit: 64 * 1024 * 1024, logController: new LogController({ disableRequestLogging: true }) });

  app.post('/api/evaluations', async (req, reply) => {
    const parsed = Batch.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ error: 'invalid-batch', message: z.prettifyError(parsed.error) });
    const now = Date.now();
    const results = db.transaction(() => {
      bump.run('requests', 1);
      return parsed.data.records.map((r) => {
        bump.run('received', 1);
        const id = typeof r.id === 'string' ? r.id : null;
        if (!id) {
          bump.run('rejected', 1);
          return { id: null, status: 'rejected', reason: 'record has no id' };
        }
        if (insert.run(id, JSON.stringify(r), now).changes === 1) return { id, status: 'accepted' };
        again.run(id);
        bump.run('duplicates', 1);
        return { id, status: 'duplicate' };
      });
    })();
    return { results };
  });

  app.get('/api/stats', async () => stats());

  app.get('/api/evaluations', async (req) => {
    const q = z.object({ after: z.coerce.number().int().default(0), limit: z.coerce.number().int().min(1).max(10_000).default(1000) }).parse(req.query);
    const rows = db.prepare<[number, number], { n: number; body: string; received: number }>('SELECT n, body, received FROM accepted WHERE n > ? ORDER BY n LIMIT ?').all(q.after, q.limit);
    return { records: rows.map((r) => ({ n: r.n, received: r.received, record: JSON.parse(r.body) as unknown })) };
  });

  app.get('/api/health', async () => ({ ok: true }));

  await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
  const port = (app.server.address() as { port: number }).port;
  o.log.info({ port }, 'stand-in province ready');
  return {
    url: `http://${o.host && o.host !== '0.0.0.0' ? o.host : '127.0.0.1'}:${port}`,
    port,
    app,
    db,
    stats,
    async close() {
      await app.close();
      db.close();
    },
  };
}
