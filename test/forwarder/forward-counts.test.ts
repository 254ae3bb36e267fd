/**
 * The forward queue's counts per destination, kind and state (hub/forwarder/queue.ts,
 * forward_counts) are kept by triggers, so the backlog gauge — read every second and on every
 * /metrics scrape — no longer counts the pending rows (125–450 ms with 600,000 pending). They
 * must equal a recount of the queue after rows are queued (and repeats ignored), forwarded,
 * refused, re-pushed and deleted; a hub upgrading with a queue gets it counted by the migration;
 * and what the API and the CLI show (backlog, forwardingCounts, countsByKind) reads them.
 */
import Fastify from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { enqueueEvaluation } from '../../hub/forwarder/forwarder.js';
import { enqueueMessage } from '../../hub/forwarder/messages.js';
import {
  FORWARD_COUNTS_MIGRATION,
  backlog,
  checkForwardCounts,
  countsByKind,
  forwardingCounts,
  repush,
} from '../../hub/forwarder/queue.js';
import { verifyLedger } from '../../hub/ledger/verify.js';
import { waitFor } from '../helpers/wait.js';
import { hubEvaluation, queueStates, startForwarder, tempHubDb } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

it('equal a recount of the queue as rows are queued, forwarded, refused, re-pushed and deleted', async () => {
  const t = tempHubDb();
  cleanups.push(() => t.cleanup());
  const es = Array.from({ length: 12 }, (_, i) => hubEvaluation({ level: i % 5 === 0 ? 1 : 4 }));
  t.db.transaction(() => {
    es.forEach((e, i) => enqueueEvaluation(t.db, e, 1_000 + i));
  })();
  expect(checkForwardCounts(t.db)).toEqual([]);
  expect(backlog(t.db, 3_000)).toEqual({ count: 12, oldestEnqueuedAt: 1_000, oldestAgeS: 2 });

  // A stand-in province that refuses every fifth evaluation for good and accepts the rest.
  const refuse = new Set(es.filter((_, i) => i % 5 === 0).map((e) => e.id));
  const app = Fastify();
  app.post('/api/evaluations', async (req) => {
    const records = (req.body as { records: { id: string }[] }).records;
    return {
      results: records.map((r) => (refuse.has(r.id) ? { id: r.id, status: 'rejected', reason: 'bad' } : { id: r.id, status: 'accepted' })),
    };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const f = startForwarder(t.db, `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/evaluations`, {
    batchSize: 4,
  });
  cleanups.push(() => f.stop());
  await waitFor(() => queueStates(t.db).pending === undefined, 'the queue worked through', 10_000);
  expect(checkForwardCounts(t.db)).toEqual([]);
  const states = queueStates(t.db);
  expect(states.rejected).toBe(refuse.size);
  const c = forwardingCounts(t.db);
  expect([c.done, c.rejected, c.backlog.count]).toEqual([states.done, states.rejected, 0]);
  expect(countsByKind(t.db)).toEqual(
    Object.fromEntries(
      t.db
        .prepare<[], { kind: string }>("SELECT DISTINCT kind FROM forward_queue WHERE destination = 'province'")
        .all()
        .map(({ kind }) => [
          kind,
          Object.fromEntries(
            t.db
              .prepare<[string], { state: string; n: number }>(
                "SELECT state, count(*) AS n FROM forward_queue WHERE destination = 'province' AND kind = ? GROUP BY state",
              )
              .all(kind)
              .map((r) => [r.state, r.n]),
          ),
        ]),
    ),
  );

  // Re-pushed after a fix: back to pending, counted there.
  await f.stop();
  const first = [...refuse][0]!;
  repush(t.db, [first], 'it-admin');
  expect(checkForwardCounts(t.db)).toEqual([]);
  expect(backlog(t.db).count).toBe(1);
  // Deleted by hand (hall IT's sqlite3): the counts follow.
  t.db.prepare('DELETE FROM forward_payload WHERE n = (SELECT rowid FROM forward_queue WHERE id = ?)').run(first);
  t.db.prepare('DELETE FROM forward_repush_log WHERE id = ?').run(first);
  t.db.prepare('DELETE FROM forward_queue WHERE id = ?').run(first);
  expect(checkForwardCounts(t.db)).toEqual([]);
  expect(backlog(t.db).count).toBe(0);
});

it('counts a repeated message once, and notices a count that disagrees with the queue (so does hub verify)', async () => {
  const t = tempHubDb();
  cleanups.push(() => t.cleanup());
  const e = hubEvaluation();
  const m = { id: 'm-1', kind: 'invalidation', subject: e.id, after: e.id, payload: { id: 'm-1' } };
  t.db.transaction(() => {
    enqueueEvaluation(t.db, e, 1);
    expect(enqueueMessage(t.db, m, 2)).toBe(true);
    expect(enqueueMessage(t.db, m, 3)).toBe(false); // ignored: no row, no count
  })();
  expect(checkForwardCounts(t.db)).toEqual([]);
  expect(countsByKind(t.db)).toEqual({ default: { pending: 1 }, invalidation: { pending: 1 } });
  t.db.exec("UPDATE forward_counts SET n = n + 1 WHERE kind = 'default'");
  expect(checkForwardCounts(t.db)).toEqual([{ destination: 'province', kind: 'default', state: 'pending', kept: 2, fresh: 1 }]);
  const report = await verifyLedger(t.db);
  expect(report.ok).toBe(false);
  expect(report.findings).toEqual([
    expect.objectContaining({
      table: 'forward_counts',
      key: 'destination=province kind=default state=pending',
      stored: '2',
      expected: '1',
    }),
  ]);
});

it('counts the queue an existing hub already has when it upgrades, and the backlog reads no queue row to count', () => {
  const t = tempHubDb();
  cleanups.push(() => t.cleanup());
  t.db.transaction(() => Array.from({ length: 30 }, (_, i) => enqueueEvaluation(t.db, hubEvaluation(), 10 + i)))();
  t.db.exec("UPDATE forward_queue SET state = 'done' WHERE rowid % 3 = 0");
  // The hub as it was before the counts: no table, no triggers.
  t.db.exec(
    'DROP TRIGGER forward_counts_insert; DROP TRIGGER forward_counts_update; DROP TRIGGER forward_counts_delete; DROP TABLE forward_counts',
  );
  t.db.transaction(() => t.db.exec(FORWARD_COUNTS_MIGRATION))();
  expect(checkForwardCounts(t.db)).toEqual([]);
  expect(backlog(t.db, 100)).toMatchObject({ count: 20, oldestEnqueuedAt: 10 });
  // The oldest pending is the first entry of the destination/state index; nothing is counted in the queue.
  const plans = [
    "SELECT coalesce(sum(n), 0) AS n FROM forward_counts WHERE destination = 'province' AND state = 'pending'",
    "SELECT min(enqueued_at) AS t FROM forward_queue WHERE destination = 'province' AND state = 'pending'",
  ].map((sql) =>
    t.db
      .prepare<[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
      .all()
      .map((r) => r.detail)
      .join('; '),
  );
  expect(plans[0]).toMatch(/SEARCH forward_counts USING PRIMARY KEY/);
  expect(plans[1]).toMatch(/SEARCH forward_queue USING COVERING INDEX forward_queue_by_destination/);
});
