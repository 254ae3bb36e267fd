import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ProvinceConfigSchema, type ProvinceConfigInput } from '../../hub/forwarder/config.js';
import { createForwarder } from '../../hub/forwarder/create.js';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { enqueueEvaluation, type Forwarder } from '../../hub/forwarder/forwarder.js';
import { DEFAULT_HMAC_HEADERS } from '../../hub/forwarder/auth.js';
import { listRejected } from '../../hub/forwarder/queue.js';
import { createMetrics } from '../../hub/metrics.js';
import { startProvince, type Province } from '../../simulator/province/province.js';
import { captureLog, silentLog } from '../helpers/log.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { hubEvaluation, makeCa, queueStates, tempHubDb, type TempDb } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function db(): TempDb {
  const t = tempHubDb();
  cleanups.push(() => t.cleanup());
  return t;
}

function forwarder(
  t: TempDb,
  province: ProvinceConfigInput,
  log = silentLog(),
): { f: Forwarder; metrics: ReturnType<typeof createMetrics> } {
  const metrics = createMetrics();
  const f = createForwarder({
    config: ProvinceConfigSchema.parse({ lingerMs: 0, retry: { baseMs: 20, maxMs: 200 }, ...province }),
    db: t.db,
    hall: 'hall-1',
    log,
    metrics,
  });
  f.start();
  cleanups.push(() => f.stop());
  return { f, metrics };
}

function enqueue(t: TempDb, es: Evaluation[]): void {
  t.db.transaction(() => es.forEach((e) => enqueueEvaluation(t.db, e, Date.now())))();
}

/** A province that answers with a function of the records it got (native format). */
async function scriptedProvince(
  answer: (records: Evaluation[], n: number) => { code: number; body: unknown },
): Promise<{ url: string; requests: Evaluation[][] }> {
  const app: FastifyInstance = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  const requests: Evaluation[][] = [];
  app.post('/api/evaluations', async (req, reply) => {
    const records = (req.body as { records: Evaluation[] }).records;
    requests.push(records);
    const a = answer(records, requests.length);
    return reply.code(a.code).send(a.body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/evaluations`, requests };
}

const acceptAll = (records: Evaluation[]) => ({ code: 200, body: { results: records.map((r) => ({ id: r.id, status: 'accepted' })) } });

describe('the forwarder against a scripted province', () => {
  it('a batch refused with 400 is split until the bad evaluation stands alone; the others go through', async () => {
    const t = db();
    const good = Array.from({ length: 15 }, () => hubEvaluation());
    const bad = hubEvaluation({ staffId: 'POISON' });
    enqueue(t, [...good.slice(0, 7), bad, ...good.slice(7)]);
    const p = await scriptedProvince((records) =>
      records.some((r) => r.staffId === 'POISON') ? { code: 400, body: { error: 'staffId POISON is not a person' } } : acceptAll(records),
    );
    forwarder(t, { url: p.url, batchSize: 16 });
    await waitFor(() => queueStates(t.db).pending === undefined, 'the queue to settle');
    expect(queueStates(t.db)).toEqual({ done: 15, rejected: 1 });
    const [r] = listRejected(t.db);
    expect(r!.id).toBe(bad.id);
    expect(r!.reason).toMatch(/400.*POISON/);
    // 16 → 8+8 → the 8 with the bad one → 4+4 → 2+2 → 1+1: a handful of requests, not one per record.
    expect(p.requests.length).toBeLessThanOrEqual(10);
  });

  it('evaluations the province leaves out of its answer are sent again until it answers for them', async () => {
    const t = db();
    enqueue(
      t,
      Array.from({ length: 6 }, () => hubEvaluation()),
    );
    // Answers only for the first record of each request.
    const p = await scriptedProvince((records) => ({ code: 200, body: { results: [{ id: records[0]!.id, status: 'accepted' }] } }));
    forwarder(t, { url: p.url, batchSize: 6 });
    await waitFor(() => queueStates(t.db).done === 6, 'all six done', 10_000);
    expect(new Set(p.requests.flat().map((r) => r.id)).size).toBe(6);
  });

  it('an answer that is not understood leaves everything queued and is retried with backoff', async () => {
    const t = db();
    enqueue(t, [hubEvaluation(), hubEvaluation()]);
    const p = await scriptedProvince((records, n) => (n <= 3 ? { code: 200, body: '<html>proxy error</html>' } : acceptAll(records)));
    const { f, metrics } = forwarder(t, { url: p.url });
    await waitFor(() => queueStates(t.db).done === 2, 'both done', 10_000);
    // After a failure the batch is halved (a bad batch may hold a record the province chokes on).
    expect(p.requests.slice(0, 3).map((r) => r.length)).toEqual([2, 1, 1]);
    expect(await metrics.registry.getSingleMetricAsString('hcp_forward_failures_total')).toMatch(/kind="bad-reply"} 3/);
    expect(f.status()).toMatchObject({ consecutiveFailures: 0, lastError: { kind: 'bad-reply' } });
  });

  it('a correction is sent only after the default it replaces was accepted, even when the default needs retries', async () => {
    const t = db();
    const dflt = hubEvaluation();
    const correction = hubEvaluation({ kind: 'correction', level: 2, assessNumber: 2, supersedes: dflt.id });
    const other = hubEvaluation();
    enqueue(t, [dflt, correction, other]);
    // The province fails every batch holding the default, twice.
    let defaultFailures = 0;
    const p = await scriptedProvince((records) =>
      records.some((r) => r.id === dflt.id) && defaultFailures++ < 2 ? { code: 503, body: 'busy' } : acceptAll(records),
    );
    forwarder(t, { url: p.url, batchSize: 10 });
    await waitFor(() => queueStates(t.db).done === 3, 'all three accepted', 10_000);
    const order = p.requests.flat().map((r) => r.id);
    expect(order.indexOf(correction.id)).toBeGreaterThan(order.lastIndexOf(dflt.id));
    expect(p.requests.some((batch) => batch.some((r) => r.id === dflt.id) && batch.some((r) => r.id === correction.id))).toBe(false);
  });

  it('an evaluation the profile cannot map is kept as rejected by the hub, with the reason', async () => {
    const t = db();
    const odd = hubEvaluation({ level: 7 as Evaluation['level'] });
    enqueue(t, [hubEvaluation(), odd]);
    const p = await scriptedProvince((records) => ({
      code: 200,
      body: {
        results: records.map((r) => ({ evaluationId: (r as unknown as { evaluationId: string }).evaluationId, status: 'accepted' })),
      },
    }));
    const cap = captureLog();
    forwarder(t, { url: p.url, profile: 'common', areaCode: '420100', deptCode: 'D1' }, cap.log);
    await waitFor(() => queueStates(t.db).done === 1 && queueStates(t.db).rejected === 1, 'one done, one kept as rejected');
    expect(listRejected(t.db)[0]).toMatchObject({ id: odd.id, reason: expect.stringMatching(/could not map.*level/) });
    expect(cap.find('cannot be sent')).toHaveLength(1);
  });

  it('refuses to start with a profile that needs areaCode when none is configured', () => {
    const t = db();
    expect(() =>
      createForwarder({
        config: ProvinceConfigSchema.parse({ url: 'http://127.0.0.1:1/x', profile: 'common' }),
        db: t.db,
        hall: 'h',
        log: silentLog(),
        metrics: createMetrics(),
      }),
    ).toThrow(/set province\.areaCode/);
  });
});

describe('HTTPS with a government CA and request authentication, against the stand-in province', () => {
  async function tlsProvince(
    dir: string,
    auth: Parameters<typeof startProvince>[0]['auth'],
  ): Promise<{ p: Province; ca: ReturnType<typeof makeCa> }> {
    const ca = makeCa(join(dir, 'pki'));
    const { readFileSync } = await import('node:fs');
    const p = await startProvince({ log: silentLog(), tls: { key: readFileSync(ca.keyFile), cert: readFileSync(ca.certFile) }, auth });
    cleanups.push(() => p.close());
    return { p, ca };
  }

  it('trusts the configured CA bundle only, and sends the bearer token', async () => {
    const t = db();
    const { p, ca } = await tlsProvince(t.dir, { kind: 'bearer', token: 'prov-token-1' });
    expect(p.url).toMatch(/^https:/);
    writeFileSync(join(t.dir, 'token'), 'prov-token-1\n');
    writeFileSync(join(t.dir, 'wrong-token'), 'guess\n');
    const es = Array.from({ length: 20 }, () => hubEvaluation());
    enqueue(t, es);

    // A CA that did not sign the province's certificate: nothing goes, nothing is lost.
    const a = forwarder(t, {
      url: `${p.url}/api/evaluations`,
      caFile: ca.otherCaFile,
      auth: { kind: 'bearer', tokenFile: join(t.dir, 'token') },
    });
    await waitFor(() => a.f.status().consecutiveFailures >= 2, 'TLS failures');
    expect(a.f.status().lastError).toMatchObject({ kind: 'connection' });
    await a.f.stop();

    // The right CA but the wrong token: 401, retried, never "rejected".
    const b = forwarder(t, {
      url: `${p.url}/api/evaluations`,
      caFile: ca.caFile,
      auth: { kind: 'bearer', tokenFile: join(t.dir, 'wrong-token') },
    });
    await waitFor(() => b.f.status().consecutiveFailures >= 2, 'auth failures');
    expect(b.f.status().lastError).toMatchObject({ kind: 'auth' });
    await b.f.stop();
    expect(queueStates(t.db)).toEqual({ pending: 20 });
    expect(p.stats().accepted).toBe(0);

    // Fixed: everything goes, once.
    const c = forwarder(t, {
      url: `${p.url}/api/evaluations`,
      caFile: ca.caFile,
      auth: { kind: 'bearer', tokenFile: join(t.dir, 'token') },
    });
    await waitFor(() => queueStates(t.db).done === 20, 'all delivered');
    expect(p.stats()).toMatchObject({ accepted: 20, duplicatesReceived: 0 });
    expect(c.f.status().state).not.toBe('backing-off');
  });

  it('signs every push with HMAC-SHA256 over the body; a wrong secret keeps everything queued', async () => {
    const t = db();
    const { p, ca } = await tlsProvince(t.dir, {
      kind: 'hmac',
      keyId: 'hall-1',
      secret: 'shared-secret',
      headers: DEFAULT_HMAC_HEADERS,
      encoding: 'hex',
    });
    writeFileSync(join(t.dir, 'secret'), 'shared-secret\n');
    writeFileSync(join(t.dir, 'bad-secret'), 'not-it\n');
    enqueue(
      t,
      Array.from({ length: 30 }, () => hubEvaluation()),
    );
    const wrong = forwarder(t, {
      url: `${p.url}/api/evaluations`,
      caFile: ca.caFile,
      batchSize: 7,
      auth: { kind: 'hmac', keyId: 'hall-1', secretFile: join(t.dir, 'bad-secret') },
    });
    await waitFor(() => wrong.f.status().consecutiveFailures >= 2, 'refused signatures');
    await wrong.f.stop();
    expect(queueStates(t.db)).toEqual({ pending: 30 });
    forwarder(t, {
      url: `${p.url}/api/evaluations`,
      caFile: ca.caFile,
      batchSize: 7,
      auth: { kind: 'hmac', keyId: 'hall-1', secretFile: join(t.dir, 'secret') },
    });
    await waitFor(() => queueStates(t.db).done === 30, 'all delivered');
    await sleep(100);
    expect(p.stats()).toMatchObject({ accepted: 30, duplicatesReceived: 0 });
  });
});
