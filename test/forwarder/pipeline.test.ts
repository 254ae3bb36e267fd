/**
 * With a backlog the forwarder reads and builds the next batch while a push is in flight and
 * records a push's answer while the next one travels. These tests hold it to what that must not
 * change: one push in flight, queue order, a row marked only from its own push's answer, a row
 * that waits for another (a correction) sent only after that one's answer, and a failed push
 * leaving everything it held to be retried.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { enqueueEvaluation } from '../../hub/forwarder/forwarder.js';
import { repush } from '../../hub/forwarder/queue.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { hubEvaluation, queueStates, startForwarder, tempHubDb, type TempDb } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

interface Seen {
  ids: string[];
  /** Queue state of each of these rows while the province held the request. */
  statesDuring: string[];
  status: number;
}

/** A native-format province that answers after a short think, watching what the hub's queue says meanwhile. */
async function watchingProvince(
  t: TempDb,
  answer: (records: Evaluation[], n: number) => number,
): Promise<{ url: string; seen: Seen[]; maxInFlight: () => number }> {
  const app: FastifyInstance = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  const seen: Seen[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const stateOf = t.db.prepare<[string], { state: string }>('SELECT state FROM forward_queue WHERE id = ?');
  app.post('/api/evaluations', async (req, reply) => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    const records = (req.body as { records: Evaluation[] }).records;
    const s: Seen = { ids: records.map((r) => r.id), statesDuring: records.map((r) => stateOf.get(r.id)!.state), status: 0 };
    seen.push(s);
    await sleep(5); // time for the hub to record the previous answer meanwhile
    s.status = answer(records, seen.length);
    inFlight--;
    if (s.status !== 200) return reply.code(s.status).send({ error: 'busy' });
    return { results: records.map((r) => ({ id: r.id, status: 'accepted' })) };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  return {
    url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/evaluations`,
    seen,
    maxInFlight: () => maxInFlight,
  };
}

function start(t: TempDb, url: string, batchSize: number, ingestBacklogged?: () => boolean): void {
  const f = startForwarder(t.db, url, { batchSize, retry: { baseMs: 20, maxMs: 100 } }, ingestBacklogged ? { ingestBacklogged } : {});
  cleanups.push(() => f.stop());
}

function db(): TempDb {
  const t = tempHubDb();
  cleanups.push(() => t.cleanup());
  return t;
}

describe('forwarding a backlog push after push', () => {
  // Batch 1: answers are recorded a few pushes at a time, and rows are read 16 ahead of the pushes
  // that take them. Batches of 10 and 40: each push's rows are read while the one before travels.
  it.each([1, 10, 40])(
    'keeps one push in flight, sends in queue order, each evaluation once, and marks none before its own answer (batch %i)',
    async (batch) => {
      const t = db();
      const es = Array.from({ length: 203 }, () => hubEvaluation());
      t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, 1_764_000_000_000)))();
      const p = await watchingProvince(t, () => 200);
      start(t, p.url, batch);
      await waitFor(() => queueStates(t.db).done === es.length, 'the backlog forwarded', 20_000);
      expect(p.maxInFlight()).toBe(1);
      expect(p.seen.flatMap((s) => s.ids)).toEqual(es.map((e) => e.id));
      expect(p.seen.map((s) => s.ids.length)).toEqual([
        ...Array(Math.floor(203 / batch)).fill(batch),
        ...(203 % batch ? [203 % batch] : []),
      ]);
      // While the province held a push, every row in it was still pending: marked only from the answer.
      expect(p.seen.flatMap((s) => s.statesDuring).every((st) => st === 'pending')).toBe(true);
      expect(queueStates(t.db)).toEqual({ done: es.length });
    },
  );

  // Batch 4: the defaults fill the first push, the corrections are due right behind them. Batch 1:
  // the rows read ahead while the first default travels cannot hold a correction either.
  it.each([4, 1])(
    'sends a correction only after the answer for the default it replaces, even when the two are in consecutive pushes (batch %i)',
    async (batch) => {
      const t = db();
      const defaults = Array.from({ length: 4 }, () => hubEvaluation());
      const corrections = defaults.map((d) => hubEvaluation({ kind: 'correction', level: 2, assessNumber: 2, supersedes: d.id }));
      const others = Array.from({ length: 8 }, () => hubEvaluation());
      t.db.transaction(() => [...defaults, ...corrections, ...others].forEach((e) => enqueueEvaluation(t.db, e, 1_764_000_000_000)))();
      const p = await watchingProvince(t, () => 200);
      start(t, p.url, batch);
      await waitFor(() => queueStates(t.db).done === 16, 'everything forwarded', 20_000);
      const pushOf = (id: string) => p.seen.findIndex((s) => s.ids.includes(id));
      for (const [i, c] of corrections.entries()) expect(pushOf(c.id)).toBeGreaterThan(pushOf(defaults[i]!.id));
      // The push read while the defaults were in flight could not hold a correction.
      expect(p.seen[1]!.ids.some((id) => corrections.some((c) => c.id === id))).toBe(false);
      expect(p.maxInFlight()).toBe(1);
      expect(new Set(p.seen.flatMap((s) => s.ids)).size).toBe(16);
    },
  );

  it('answers held back to be recorded together are written while a later push hangs, not after it', async () => {
    const t = db();
    const es = Array.from({ length: 6 }, () => hubEvaluation());
    t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, 1_764_000_000_000)))();
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const app: FastifyInstance = Fastify();
    let n = 0;
    app.post('/api/evaluations', async (req) => {
      const records = (req.body as { records: Evaluation[] }).records;
      if (++n === 4) await hung; // the fourth push hangs until the test lets it go
      return { results: records.map((r) => ({ id: r.id, status: 'accepted' })) };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(async () => {
      release();
      await app.close();
    });
    start(t, `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/evaluations`, 1);
    // The first three were answered; the fourth hangs: those three are marked meanwhile.
    await waitFor(() => n === 4, 'the fourth push to arrive', 10_000);
    await waitFor(() => queueStates(t.db).done === 3, 'the three answered ones marked while the fourth hangs', 2_000);
    expect(queueStates(t.db)).toEqual({ done: 3, pending: 3 });
    release();
    await waitFor(() => queueStates(t.db).done === 6, 'the rest forwarded', 10_000);
  });

  it('rows read ahead are dropped when the pushes stop following one another (ingest backlogged): each evaluation still goes once, in order', async () => {
    const t = db();
    const es = Array.from({ length: 40 }, () => hubEvaluation());
    t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, 1_764_000_000_000)))();
    let backlogged = false;
    // Devices pile up at ingest from the fifth push until the one after it: the forwarder gives way.
    const p = await watchingProvince(t, (_records, n) => {
      if (n === 5) backlogged = true;
      if (n > 6) backlogged = false;
      return 200;
    });
    start(t, p.url, 1, () => backlogged);
    await waitFor(() => queueStates(t.db).done === es.length, 'the backlog forwarded', 20_000);
    expect(p.seen.flatMap((s) => s.ids)).toEqual(es.map((e) => e.id));
    expect(p.maxInFlight()).toBe(1);
  });

  // Batch 1: the correction is read ahead while its default is refused (so it is due), then hall IT
  // re-pushes the default before the pushes reach the correction.
  it('a correction read ahead is not sent before its default when the default is re-pushed meanwhile (batch 1)', async () => {
    const t = db();
    const d = hubEvaluation();
    const before = Array.from({ length: 5 }, () => hubEvaluation());
    const c = hubEvaluation({ kind: 'correction', level: 2, assessNumber: 2, supersedes: d.id });
    const after = Array.from({ length: 10 }, () => hubEvaluation());
    t.db.transaction(() => {
      enqueueEvaluation(t.db, d, 1_764_000_000_000);
      // Refused by the province earlier: out of pending, so the correction is due.
      t.db.prepare("UPDATE forward_queue SET state = 'rejected', rejected_at = 1 WHERE id = ?").run(d.id);
      for (const e of [...before, c, ...after]) enqueueEvaluation(t.db, e, 1_764_000_000_001);
    })();
    const p = await watchingProvince(t, (_records, n) => {
      // The second push: by now the pushes after it were read ahead, the correction among them.
      if (n === 2) expect(repush(t.db, [d.id], 'hall IT')).toEqual([d.id]);
      return 200;
    });
    start(t, p.url, 1);
    await waitFor(() => queueStates(t.db).done === 17, 'everything forwarded', 20_000);
    const order = p.seen.flatMap((s) => s.ids);
    expect(order.indexOf(c.id)).toBeGreaterThan(order.indexOf(d.id));
    expect(order.filter((id) => id === c.id || id === d.id)).toEqual([d.id, c.id]);
    expect(new Set(order).size).toBe(order.length);
  });

  // Batch 1: the failure also drops the rows read ahead; they are read again, nothing skipped or doubled.
  it.each([10, 1])(
    'a push that fails mid-backlog leaves its evaluations pending; they are sent again and each ends accepted once (batch %i)',
    async (batch) => {
      const t = db();
      const es = Array.from({ length: 60 }, () => hubEvaluation());
      t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, 1_764_000_000_000)))();
      const p = await watchingProvince(t, (_records, n) => (n === 3 || n === 4 ? 503 : 200));
      start(t, p.url, batch);
      await waitFor(() => queueStates(t.db).done === es.length, 'the backlog forwarded', 20_000);
      const accepted = p.seen.filter((s) => s.status === 200).flatMap((s) => s.ids);
      expect(accepted.sort()).toEqual(es.map((e) => e.id).sort());
      // The third push failed: its rows were sent again later, after a backoff.
      const third = p.seen[2]!.ids;
      expect(p.seen.slice(3).filter((s) => s.status === 200 && third.some((id) => s.ids.includes(id))).length).toBeGreaterThan(0);
      expect(p.seen.flatMap((s) => s.statesDuring).every((st) => st === 'pending')).toBe(true);
      expect(p.maxInFlight()).toBe(1);
    },
  );
});
