/**
 * What a mark costs is the queue's layout. The queued JSON lives in forward_payload, beside its
 * forward_queue row (same rowid), because every outcome the forwarder writes rewrites the queue
 * row's whole record: with the payload inline, marking an evaluation sent rewrote ~1.5 KB. And
 * one index only has the row's state in it. These tests hold the layout to what the rest of the
 * hub relies on: one payload per queued row, written once, an ignored repeat adds none, old
 * queues keep every payload under its own row, what the province gets is the stored JSON byte
 * for byte, and every query on the queue's state still searches an index.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ProvinceConfigSchema } from '../../hub/forwarder/config.js';
import { createForwarder } from '../../hub/forwarder/create.js';
import { enqueueEvaluation } from '../../hub/forwarder/forwarder.js';
import { enqueueMessage } from '../../hub/forwarder/messages.js';
import { FORWARD_PAYLOAD_MIGRATION, backlog, forwardingCounts, listRejected, queuedEvaluation, repush } from '../../hub/forwarder/queue.js';
import { createMetrics } from '../../hub/metrics.js';
import { MIGRATIONS, openHubDb, type Db } from '../../hub/store/db.js';
import { silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';
import { hubEvaluation, queueStates, tempHubDb } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const payloads = (db: Db) =>
  db.prepare<[], { id: string; n: number; payload: string }>(
    'SELECT q.id, p.n, p.payload FROM forward_queue AS q JOIN forward_payload AS p ON p.n = q.rowid ORDER BY q.rowid',
  );
const count = (db: Db, table: string) => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()!.n;

/** Starts a forwarder from `db` to the stand-in `app`, stopped after the test. */
function forwardTo(db: Db, app: FastifyInstance, o: { batchSize?: number } = {}): void {
  const f = createForwarder({
    config: ProvinceConfigSchema.parse({
      url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/evaluations`,
      lingerMs: 0,
      ...o,
    }),
    db,
    hall: 'hall-1',
    log: silentLog(),
    metrics: createMetrics(),
  });
  f.start();
  cleanups.push(() => f.stop());
}

describe('the forward queue keeps each payload in a table of its own', () => {
  it('stores one payload per queued row; a repeated message is ignored and adds no second payload', () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    const e = hubEvaluation();
    const m = { id: 'm-1', kind: 'invalidation', subject: e.id, after: e.id, payload: { id: 'm-1', reason: 'first' } };
    t.db.transaction(() => {
      enqueueEvaluation(t.db, e, 1);
      expect(enqueueMessage(t.db, m, 2)).toBe(true);
      expect(enqueueMessage(t.db, { ...m, payload: { id: 'm-1', reason: 'second' } }, 3)).toBe(false);
    })();
    // A second evaluation with the same id is refused outright and leaves nothing behind.
    expect(() => enqueueEvaluation(t.db, { ...e, level: 1 }, 4)).toThrow(/UNIQUE/);
    expect(count(t.db, 'forward_queue')).toBe(2);
    expect(count(t.db, 'forward_payload')).toBe(2);
    expect(
      payloads(t.db)
        .all()
        .map((r) => [r.id, JSON.parse(r.payload)]),
    ).toEqual([
      [e.id, e],
      ['m-1', { id: 'm-1', reason: 'first' }],
    ]);
    expect(t.db.prepare("SELECT count(*) AS n FROM pragma_table_info('forward_queue') WHERE name = 'payload'").get()).toEqual({ n: 0 });
  });

  it('forwards the stored JSON byte for byte, and marking the rows sent leaves the queue rows small and the payloads as they were', async () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    // ~1.5 KB each, like a device rating with its record.
    const es = Array.from({ length: 120 }, (_, i) => hubEvaluation({ text: `${'很满意'.repeat(150)} ${i}` }));
    t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, 1_764_000_000_000)))();
    const stored = payloads(t.db).all();
    const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
    const bodies: string[] = [];
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    app.post('/api/evaluations', async (req) => {
      bodies.push(req.body as string);
      const records = (JSON.parse(req.body as string) as { records: { id: string }[] }).records;
      return { results: records.map((r) => ({ id: r.id, status: 'accepted' })) };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    forwardTo(t.db, app, { batchSize: 50 });
    await waitFor(() => queueStates(t.db).done === es.length, 'the backlog forwarded', 20_000);
    // Each push is `{"records":[…]}` around the stored JSON of its rows, in queue order.
    expect(bodies.map((b) => b.slice('{"records":['.length, -']}'.length)).join(',')).toBe(stored.map((s) => s.payload).join(','));
    expect(payloads(t.db).all()).toEqual(stored);
    // What each mark rewrites: the queue's own rows, ~200 bytes each with the province's reply,
    // not the 1.5 KB payloads (SQLite rewrites a row's whole record on every UPDATE).
    const bytes = t.db.prepare<[string], { b: number }>("SELECT sum(payload) AS b FROM dbstat WHERE name = ? AND pagetype = 'leaf'");
    expect(bytes.get('forward_payload')!.b).toBeGreaterThan(es.length * 1200);
    expect(bytes.get('forward_queue')!.b).toBeLessThan(es.length * 400);
  });

  it("marks a push's rows with each row's own answer, and leaves a row the province did not answer pending for a retry", async () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    const es = Array.from({ length: 12 }, () => hubEvaluation());
    t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, 1)))();
    const unanswered = es[5]!.id;
    let pushes = 0;
    const app = Fastify();
    app.post('/api/evaluations', async (req) => {
      const records = (req.body as { records: { id: string }[] }).records;
      // The first push leaves one out; every odd one was already there.
      const answered = pushes++ === 0 ? records.filter((r) => r.id !== unanswered) : records;
      return { results: answered.map((r) => ({ id: r.id, status: es.findIndex((e) => e.id === r.id) % 2 ? 'duplicate' : 'accepted' })) };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    forwardTo(t.db, app, { batchSize: 50 });
    await waitFor(() => queueStates(t.db).done === es.length - 1, 'the answered ones marked', 10_000);
    expect(queuedEvaluation(t.db, unanswered)).toMatchObject({
      state: 'pending',
      attempts: 1,
      reason: 'the province did not answer for this evaluation',
      reply: [{ key: unanswered, status: 'unanswered' }],
    });
    await waitFor(() => queueStates(t.db).done === es.length, 'the unanswered one resent', 10_000);
    expect(pushes).toBe(2);
    es.forEach((e, i) =>
      expect(queuedEvaluation(t.db, e.id)).toMatchObject({
        state: 'done',
        attempts: e.id === unanswered ? 2 : 1,
        reason: null,
        reply: [{ key: e.id, status: i % 2 ? 'duplicate' : 'accepted' }],
      }),
    );
    expect(forwardingCounts(t.db)).toMatchObject({ done: es.length, backlog: { count: 0 }, lastForwardedAt: expect.any(Number) });
  });

  it('a queue row without a stored payload is refused with a reason hall IT sees, and the rows behind it still go', async () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    const es = Array.from({ length: 3 }, () => hubEvaluation());
    t.db.transaction(() => {
      // Queued by hand, not through enqueueEvaluation: the oldest row, with nothing to send.
      t.db.prepare("INSERT INTO forward_queue (id, kind, enqueued_at) VALUES ('bare-1', 'default', 1)").run();
      es.forEach((e) => enqueueEvaluation(t.db, e, 2));
    })();
    const app = Fastify();
    const sent: string[] = [];
    app.post('/api/evaluations', async (req) => {
      const records = (req.body as { records: { id: string }[] }).records;
      sent.push(...records.map((r) => r.id));
      return { results: records.map((r) => ({ id: r.id, status: 'accepted' })) };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    forwardTo(t.db, app);
    await waitFor(() => queueStates(t.db).done === es.length, 'the others forwarded', 10_000);
    expect(queueStates(t.db)).toEqual({ done: 3, rejected: 1 });
    expect(sent).toEqual(es.map((e) => e.id));
    const [refused] = listRejected(t.db);
    expect(refused).toMatchObject({ id: 'bare-1', reason: expect.stringContaining('no payload was stored') });
  });

  it('moves the payloads of a queue from before the split under their own rows, rowids kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcp-fwd-payload-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'hub.db');
    const before = MIGRATIONS.indexOf(FORWARD_PAYLOAD_MIGRATION);
    expect(before).toBeGreaterThan(0);
    const old = new Database(path);
    for (let v = 0; v < before; v++) old.exec(MIGRATIONS[v]!);
    old.pragma(`user_version = ${before}`);
    const es = [hubEvaluation(), hubEvaluation(), hubEvaluation({ kind: 'correction', level: 2, assessNumber: 2 })];
    const ins = old.prepare('INSERT INTO forward_queue (rowid, id, kind, payload, state, enqueued_at) VALUES (?, ?, ?, ?, ?, 0)');
    // rowids with gaps (the statistics' watermark counts in them): each payload must follow its own row.
    ins.run(3, es[0]!.id, es[0]!.kind, JSON.stringify(es[0]), 'done');
    ins.run(7, es[1]!.id, es[1]!.kind, JSON.stringify(es[1]), 'pending');
    ins.run(8, es[2]!.id, es[2]!.kind, JSON.stringify(es[2]), 'rejected');
    old.close();

    const db = openHubDb(path);
    cleanups.push(() => void db.close());
    expect(
      payloads(db)
        .all()
        .map((r) => [r.n, r.id]),
    ).toEqual([
      [3, es[0]!.id],
      [7, es[1]!.id],
      [8, es[2]!.id],
    ]);
    for (const e of es) expect(queuedEvaluation(db, e.id)!.evaluation).toEqual(e);
    expect(queuedEvaluation(db, es[2]!.id)!.state).toBe('rejected');
    // New rows go on after the old ones, each with its payload.
    const e = hubEvaluation();
    enqueueEvaluation(db, e, 1);
    expect(payloads(db).all().at(-1)).toEqual({ id: e.id, n: 9, payload: JSON.stringify(e) });
  });

  it('has one index with the state in it (a mark moves one entry), and every query on the state still searches it, none scans the queue', () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    const withState = t.db
      .prepare<[], { name: string }>(
        "SELECT DISTINCT i.name FROM sqlite_schema AS i, pragma_index_info(i.name) AS c WHERE i.type = 'index' AND i.tbl_name = 'forward_queue' AND c.name = 'state'",
      )
      .all();
    expect(withState).toEqual([{ name: 'forward_queue_by_destination' }]);
    // The queries on state the forwarder and hall IT run (forwarder.ts, queue.ts), as SQLite plans them.
    const plans: string[] = [];
    const planOf = new Map<string, string[]>();
    const prepare = t.db.prepare.bind(t.db);
    t.db.prepare = ((sql: string) => {
      if (/forward_queue/.test(sql) && /\bstate\b/.test(sql) && /^\s*(SELECT|UPDATE)/i.test(sql)) {
        const plan = prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...Array<null>((sql.match(/\?/g) ?? []).length).fill(null))
          .map((r) => (r as { detail: string }).detail);
        plans.push(...plan);
        planOf.set(sql, plan);
      }
      return prepare(sql);
    }) as typeof t.db.prepare;
    const f = createForwarder({
      config: ProvinceConfigSchema.parse({ url: 'http://127.0.0.1:9/api/evaluations' }),
      db: t.db,
      hall: 'hall-1',
      log: silentLog(),
      metrics: createMetrics(),
    });
    backlog(t.db);
    forwardingCounts(t.db);
    listRejected(t.db);
    repush(t.db, 'all', 'test');
    f.retryNow();
    t.db.prepare = prepare;
    expect(plans.length).toBeGreaterThan(8);
    expect(plans.filter((p) => /forward_queue/.test(p) && /^SCAN/.test(p))).toEqual([]);
    expect(plans.some((p) => p.includes('forward_queue_by_destination'))).toBe(true);
    // The marks of a whole push: each pair from the JSON finds its row by rowid (not a search of
    // the pending rows per pair, however large the backlog).
    const marks = [...planOf].filter(([sql]) => /json_each\(\?\) AS a/.test(sql));
    expect(marks).toHaveLength(1);
    expect(marks[0]![1].filter((p) => /forward_queue/.test(p))).toEqual(['SEARCH forward_queue USING INTEGER PRIMARY KEY (rowid=?)']);
  });
});
