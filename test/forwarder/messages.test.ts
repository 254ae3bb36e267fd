import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FORWARD_MESSAGES_MIGRATION } from '../../hub/forwarder/queue.js';
import { MIGRATIONS, openHubDb, type Db } from '../../hub/store/db.js';
import type { Evaluation } from '../../hub/forwarder/evaluation.js';
import { ProvinceConfigSchema } from '../../hub/forwarder/config.js';
import { createForwarder } from '../../hub/forwarder/create.js';
import { enqueueEvaluation } from '../../hub/forwarder/forwarder.js';
import { caseKey } from '../../hub/forwarder/mapping.js';
import { enqueueMessage, mapMessage, messageId, previousInChain } from '../../hub/forwarder/messages.js';
import { loadProfile, parseProfile } from '../../hub/forwarder/profile.js';
import { createMetrics } from '../../hub/metrics.js';
import { startProvince } from '../../simulator/province/province.js';
import { silentLog } from '../helpers/log.js';
import { waitFor } from '../helpers/wait.js';
import { hubEvaluation, tempHubDb } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const ctx = { areaCode: '420100', deptCode: '11420100MB0000000X', deptCodeByWindow: { '07': 'DEPT-07' } };
const T = Date.UTC(2026, 10, 25, 2, 30, 0); // 10:30:00 China time

function milestone(over: Record<string, unknown> = {}) {
  return {
    id: 'm-1',
    kind: 'milestone',
    hall: 'hall-1',
    evaluationId: 'ev-1',
    window: '07',
    level: 1,
    cases: ['BJ001'],
    itemCode: 'X1',
    order: { id: 3, version: 4 },
    type: 'rectified',
    result: null,
    text: '已对窗口人员进行业务培训，并补充材料样本。',
    class: 'general',
    dueAt: T + 86_400_000,
    extendAmount: null,
    extendUnit: null,
    late: false,
    at: T,
    handler: 'zhang',
    ...over,
  };
}

describe('work-order messages mapped by a profile', () => {
  it('common: a milestone goes under the common names, times in China time, the window department, text cut to the limit', () => {
    const p = loadProfile('common');
    const [item] = mapMessage(p, 'milestone', milestone({ text: '长'.repeat(600) }), ctx);
    expect(item!.key).toBe('m-1');
    expect(item!.body).toEqual({
      milestoneId: 'm-1',
      evaluationId: 'ev-1',
      projectNo: 'BJ001',
      areaCode: '420100',
      deptCode: 'DEPT-07',
      orderNo: 3,
      handleSeq: 4,
      handleType: 'rectified',
      handleOpinion: '长'.repeat(500),
      handleClass: 'general',
      handleTime: '2026-11-25 10:30:00',
      limitTime: '2026-11-26 10:30:00',
      overdue: false,
    });
  });

  it('a batch session: one milestone item per case number, each pointing at the key its evaluation was sent with', () => {
    const p = loadProfile('common');
    const items = mapMessage(
      p,
      'invalidation',
      {
        id: 'inv-1',
        kind: 'invalidation',
        evaluationId: 'ev-9',
        window: '12',
        cases: ['A1', 'A2'],
        order: { id: 1 },
        reason: '误评',
        at: T,
        decidedBy: 'admin',
      },
      ctx,
    );
    expect(items.map((i) => i.key)).toEqual([caseKey('inv-1', 'A1'), caseKey('inv-1', 'A2')]);
    expect(items.map((i) => i.body.evaluationId)).toEqual([caseKey('ev-9', 'A1'), caseKey('ev-9', 'A2')]);
    expect(items.map((i) => i.body.projectNo)).toEqual(['A1', 'A2']);
    expect(items[0]!.body).toMatchObject({
      invalidationId: caseKey('inv-1', 'A1'),
      invalidReason: '误评',
      invalidTime: '2026-11-25 10:30:00',
      deptCode: '11420100MB0000000X',
    });
  });

  it('a province profile renames fields, translates codes, adds constants and drops inherited fields with null', () => {
    const p = parseProfile(
      {
        extends: 'common',
        name: 'hubei',
        messages: {
          milestone: {
            fields: { type: 'clzt', text: 'clyj', late: null, orderId: null, sequence: null },
            codes: { type: { verified: '1', rectified: '3' }, class: { general: '02' } },
            constants: { sjly: 'HCP' },
          },
        },
      },
      'test',
    );
    const [item] = mapMessage(p, 'milestone', milestone(), ctx);
    expect(item!.body).toMatchObject({ clzt: '3', clyj: expect.stringContaining('业务培训'), handleClass: '02', sjly: 'HCP' });
    expect(item!.body).not.toHaveProperty('overdue');
    expect(item!.body).not.toHaveProperty('orderNo');
    expect(item!.body).not.toHaveProperty('handleType');
  });

  it('native: the queued JSON itself', () => {
    const m = milestone();
    expect(mapMessage(loadProfile('native'), 'milestone', m, ctx)).toEqual([{ key: 'm-1', body: m }]);
  });

  it('a message missing a required value is not mapped (kept by the hub as rejected, with the reason)', () => {
    expect(() => mapMessage(loadProfile('common'), 'milestone', milestone({ type: null }), ctx)).toThrow(/type is empty/);
  });

  it('a profile naming an unknown canonical field or stream is refused at start-up, saying which', () => {
    expect(() =>
      parseProfile({ extends: 'common', name: 'x', messages: { milestone: { fields: { satisfaction: 'myd' } } } }, 'x.yaml'),
    ).toThrow(/"satisfaction" is not a canonical milestone field/);
    expect(() => parseProfile({ extends: 'common', name: 'x', messages: { gossip: {} } }, 'x.yaml')).toThrow(
      /unknown message stream "gossip"/,
    );
  });
});

/** A stand-in province (common profile) and a forwarder from `t`'s queue to it, both stopped after the test; not started. */
async function commonProvinceForwarder(t: ReturnType<typeof tempHubDb>, config: Record<string, unknown>) {
  const province = await startProvince({ log: silentLog(), profile: 'common' });
  cleanups.push(() => province.close());
  const f = createForwarder({
    config: ProvinceConfigSchema.parse({
      url: `${province.url}/api/evaluations`,
      profile: 'common',
      areaCode: '420100',
      deptCode: 'D',
      lingerMs: 0,
      ...config,
    }),
    db: t.db,
    hall: 'hall-1',
    log: silentLog(),
    metrics: createMetrics(),
  });
  cleanups.push(() => f.stop());
  return { province, f };
}

/** Queues milestone `version` (`type`) of evaluation `e`'s work order `orderId`, behind what is queued about `e`. */
function queueMilestone(db: Db, e: Evaluation, type: string, orderId: number, version: number, at: number): void {
  const id = messageId(e.id, 'milestone', version, type);
  enqueueMessage(
    db,
    {
      id,
      kind: 'milestone',
      subject: e.id,
      after: previousInChain(db, e.id),
      payload: milestone({ id, evaluationId: e.id, cases: e.session!.cases, type, order: { id: orderId, version } }),
    },
    at,
  );
}

describe('messages on the durable queue', () => {
  it('a milestone waits until its evaluation is at the province, and milestones of one order arrive in order', async () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    const { province, f } = await commonProvinceForwarder(t, { retry: { baseMs: 20, maxMs: 100 } });
    // The province refuses the evaluation at first: the milestones behind it must wait, not be refused as unknown.
    province.setFaults({ error500: 1 });

    const e = hubEvaluation({ kind: 'rating', level: 1, reasons: ['115'] });
    const now = Date.now();
    t.db.transaction(() => enqueueEvaluation(t.db, e, now - 1000))();
    const types = ['verified', 'rectified', 'revisited', 'closed'];
    // Enqueued "earlier" than the evaluation: only the dependency holds them back.
    for (const [i, type] of types.entries()) t.db.transaction(() => queueMilestone(t.db, e, type, 1, i + 2, now - 5000 + i))();
    f.start();
    await waitFor(() => province.stats().faults.error500! >= 2, 'the province failing');
    expect(province.stats().messages.milestone!.received).toBe(0);
    province.setFaults({});
    await waitFor(() => province.stats().messages.milestone!.accepted === 4, 'all four milestones accepted', 15_000);
    const listed = (await (await fetch(`${province.url}/api/messages?stream=milestone`)).json()) as {
      messages: { evaluationKey: string; message: { handleType: string } }[];
    };
    expect(listed.messages.map((m) => m.message.handleType)).toEqual(types);
    expect(new Set(listed.messages.map((m) => m.evaluationKey))).toEqual(new Set([e.id]));
    expect(province.stats().messages.milestone).toMatchObject({ rejected: 0, duplicatesReceived: 0 });
  });
});

describe('evaluations and milestones interleaved in a backlog', () => {
  it('go each once, each stream in pushes of its own, when the rows read ahead of a push hold both (batch 4)', async () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    const { province, f } = await commonProvinceForwarder(t, { batchSize: 4 });
    const now = Date.now();
    // Eight evaluations go first; then, queued together and alternately, a milestone of each
    // (due at once: its evaluation is at the province) and a new evaluation. Every read of the
    // backlog meets both streams, so the pushes read ahead stop at each change of stream.
    const first = Array.from({ length: 8 }, () => hubEvaluation({ kind: 'rating', level: 1, reasons: ['115'] }));
    const later = Array.from({ length: 8 }, () => hubEvaluation());
    t.db.transaction(() => first.forEach((e, i) => enqueueEvaluation(t.db, e, now - 10_000 + i)))();
    f.start();
    await waitFor(() => province.stats().accepted === 8 && f.backlog().count === 0, 'the first eight at the province');
    t.db.transaction(() =>
      first.forEach((e, i) => {
        queueMilestone(t.db, e, 'verified', i + 1, 2, now - 5_000 + 2 * i);
        enqueueEvaluation(t.db, later[i]!, now - 5_000 + 2 * i + 1);
      }),
    )();
    f.kick();
    await waitFor(
      () => province.stats().accepted === 16 && province.stats().messages.milestone?.accepted === 8,
      'every evaluation and milestone accepted',
      15_000,
    );
    expect(province.stats()).toMatchObject({ accepted: 16, duplicatesReceived: 0, rejected: 0 });
    expect(province.stats().messages.milestone).toMatchObject({ accepted: 8, duplicatesReceived: 0, rejected: 0 });
    await waitFor(() => f.backlog().count === 0, 'the queue marked done');
  });
});

describe('a hub database from before message kinds', () => {
  it('keeps every queued evaluation with its rowid and state; a correction still waits for its default; new kinds go in', () => {
    const t = tempHubDb();
    cleanups.push(() => t.cleanup());
    t.db.close();
    const path = join(t.dir, 'old.db');
    const old = new Database(path);
    const upTo = MIGRATIONS.indexOf(FORWARD_MESSAGES_MIGRATION);
    expect(upTo).toBeGreaterThan(0);
    for (const m of MIGRATIONS.slice(0, upTo)) old.exec(m);
    old.pragma(`user_version = ${upTo}`);
    const ins = old.prepare('INSERT INTO forward_queue (rowid, id, kind, payload, state, enqueued_at) VALUES (?, ?, ?, ?, ?, 0)');
    ins.run(7, 'd1', 'default', JSON.stringify({ id: 'd1', supersedes: null }), 'done');
    ins.run(9, 'c1', 'correction', JSON.stringify({ id: 'c1', supersedes: 'd1' }), 'pending');
    old.close();

    const db = openHubDb(path);
    try {
      expect(db.prepare('SELECT rowid AS r, id, kind, destination, state, after_id FROM forward_queue ORDER BY rowid').all()).toEqual([
        { r: 7, id: 'd1', kind: 'default', destination: 'province', state: 'done', after_id: null },
        { r: 9, id: 'c1', kind: 'correction', destination: 'province', state: 'pending', after_id: 'd1' },
      ]);
      expect(
        enqueueMessage(db, { id: 'm1', kind: 'milestone', subject: 'c1', after: previousInChain(db, 'c1'), payload: { id: 'm1' } }, 1),
      ).toBe(true);
      expect(enqueueMessage(db, { id: 'm1', kind: 'milestone', payload: { id: 'm1' } }, 2)).toBe(false); // a repeat is ignored
      expect(db.prepare("SELECT after_id FROM forward_queue WHERE id = 'm1'").get()).toEqual({ after_id: 'c1' });
      expect(() => enqueueMessage(db, { id: 'x', kind: 'gossip', payload: { id: 'x' } }, 1)).toThrow(/unknown queue kind/);
    } finally {
      db.close();
    }
  });
});
