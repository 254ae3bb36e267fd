/**
 * While devices' records pile up at ingest (a hall back from an outage), the forwarder sends one
 * push a second instead of one after another, so the hub's event loop acknowledges the devices'
 * records first; once ingest has caught up it sends the rest back to back. A real forwarder from
 * a real queue to a stand-in province over HTTP.
 */
import Fastify from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { enqueueEvaluation } from '../../hub/forwarder/forwarder.js';
import { waitFor } from '../helpers/wait.js';
import { hubEvaluation, queueStates, startForwarder, tempHubDb } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

it('sends one push a second while ingest is backlogged, and the rest back to back once it is not', async () => {
  const t = tempHubDb();
  cleanups.push(() => t.cleanup());
  t.db.transaction(() => Array.from({ length: 60 }, (_, i) => enqueueEvaluation(t.db, hubEvaluation(), 1_000 + i)))();
  const pushes: number[] = [];
  const app = Fastify();
  app.post('/api/evaluations', async (req) => {
    pushes.push(Date.now());
    const records = (req.body as { records: { id: string }[] }).records;
    return { results: records.map((r) => ({ id: r.id, status: 'accepted' })) };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  let backlogged = true;
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/evaluations`;
  const f = startForwarder(t.db, url, { batchSize: 5 }, { ingestBacklogged: () => backlogged });
  cleanups.push(() => f.stop());

  await new Promise((r) => setTimeout(r, 2_500));
  // At 0, ~1 and ~2 s: three pushes (one more if a timer runs late), each after a pause.
  expect(pushes.length).toBeGreaterThanOrEqual(2);
  expect(pushes.length).toBeLessThanOrEqual(4);
  for (let i = 1; i < pushes.length; i++) expect(pushes[i]! - pushes[i - 1]!).toBeGreaterThanOrEqual(900);
  expect(queueStates(t.db).done).toBe(pushes.length * 5);

  backlogged = false;
  const t0 = Date.now();
  await waitFor(() => queueStates(t.db).done === 60, 'the rest forwarded', 10_000);
  // The other 45+ in pushes of 5 without a pause (a second each would take 9 s or more).
  expect(Date.now() - t0).toBeLessThan(3_000);
});
