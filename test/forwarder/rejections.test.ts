import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RejectedEntry } from '../../hub/forwarder/queue.js';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { expectEachPressOnce, pressSteadily, runCli } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

interface View {
  backlog: { count: number };
  done: number;
  rejected: number;
}

describe('evaluations the province refuses for good', () => {
  it('are kept with its reason, listed in the API and the CLI, and re-pushed after the rule changes', async () => {
    const reason = '非常不满意须附评价内容 (stand-in rule)';
    hall = await TestHall.start({
      province: { faults: { rejectRules: [{ field: 'level', pattern: '^1$', reason }] } },
      forward: { batchSize: 10 },
    });
    const d = await hall.addDevice('09');
    await waitFor(() => d.agent.link.connected, 'device to connect');
    await pressSteadily([d], 20, 10); // buttons 0..4 are levels 5..1: every fifth press is a 1
    const ones = d.stored.filter((r) => r.level === 1);
    expect(ones).toHaveLength(4);

    const v = await waitFor(async () => {
      const x = await hall!.api<View>('/api/forwarding');
      return x.done + x.rejected === 20 ? x : null;
    }, 'every evaluation answered');
    expect(v).toMatchObject({ done: 16, rejected: 4, backlog: { count: 0 } });

    // The API lists them, newest first, with the province's reason and enough to find the rating.
    const { rejected } = await hall.api<{ rejected: RejectedEntry[] }>('/api/forwarding/rejected');
    expect(new Set(rejected.map((r) => r.id))).toEqual(new Set(ones.map((r) => r.id)));
    for (const r of rejected) {
      expect(r).toMatchObject({ kind: 'rating', reason, summary: { window: '09', level: 1, device: d.id }, repushCount: 0 });
      expect(r.rejectedAt).toBeGreaterThan(0);
    }
    const one = await hall.api<{ state: string; wire: { id: string; level: number }[] }>(`/api/forwarding/queue/${ones[0]!.id}`);
    expect(one.state).toBe('rejected');
    expect(one.wire[0]).toMatchObject({ id: ones[0]!.id, level: 1 });
    const metrics = await (await fetch(`${hall.hubUrl}/metrics`, { headers: { authorization: `Bearer ${hall.adminToken}` } })).text();
    expect(metrics).toMatch(/^hcp_forward_rejected 4$/m);

    // Hall IT on the server: the CLI reads the same list from the hub database.
    const dataDir = join(hall.dir, 'hub');
    const listed = await runCli(['forwarding', 'rejected', '--data', dataDir, '--json']);
    expect(listed.code).toBe(0);
    expect(new Set((JSON.parse(listed.stdout) as RejectedEntry[]).map((r) => r.id))).toEqual(new Set(ones.map((r) => r.id)));
    const human = await runCli(['forwarding', 'rejected', '--data', dataDir]);
    expect(human.stdout).toContain('被省平台拒收的评价 (rejected by the province): 4');
    expect(human.stdout).toContain(reason);

    // Re-pushing before anything changed: refused again, still kept.
    await hall.api('/api/forwarding/repush', { ids: [ones[0]!.id] });
    await waitFor(
      async () =>
        (await hall!.api<{ rejected: RejectedEntry[] }>('/api/forwarding/rejected')).rejected.some(
          (r) => r.id === ones[0]!.id && r.repushCount === 1,
        ),
      'the re-pushed one refused again',
    );
    expect((await hall.api<View>('/api/forwarding')).rejected).toBe(4);

    // The province drops the rule; one is re-pushed through the API, the rest with the CLI.
    hall.province.setFaults({});
    const r1 = await hall.api<{ repushed: number }>('/api/forwarding/repush', { ids: [ones[0]!.id] });
    expect(r1.repushed).toBe(1);
    await waitFor(async () => (await hall!.api<View>('/api/forwarding')).done === 17, 'the first re-pushed one accepted');
    const rest = await runCli(['forwarding', 'repush', '--data', dataDir, '--all']);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toContain('已重新排队 re-queued: 3');
    await waitFor(async () => (await hall!.api<View>('/api/forwarding')).done === 20, 'all accepted', 10_000);
    await sleep(200);

    await expectEachPressOnce(hall, d.stored);
    expect((await hall.api<View>('/api/forwarding')).rejected).toBe(0);
    expect((await runCli(['forwarding', 'rejected', '--data', dataDir])).stdout).toContain('没有被省平台拒收的评价');
    const log = hall
      .hub!.db.prepare<[], { id: string; by: string; previous_reason: string }>(
        'SELECT id, by, previous_reason FROM forward_repush_log ORDER BY n',
      )
      .all();
    expect(log).toHaveLength(5);
    expect(log.map((l) => l.by.split(':')[0])).toEqual(['api', 'api', 'cli', 'cli', 'cli']);
    expect(log.every((l) => l.previous_reason === reason)).toBe(true);

    // Re-pushing what is not rejected is refused by the CLI, and says so.
    const again = await runCli(['forwarding', 'repush', '--data', dataDir, '--id', ones[0]!.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not in the rejected state');
  });

  it('the API needs a token to list and an admin to re-push', async () => {
    hall = await TestHall.start();
    const r = await fetch(`${hall.hubUrl}/api/forwarding/rejected`);
    expect(r.status).toBe(401);
    const bad = await fetch(`${hall.hubUrl}/api/forwarding/repush`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hall.adminToken}`, 'content-type': 'application/json' },
      body: '{"ids":[]}',
    });
    expect(bad.status).toBe(400);
    expect(
      (await fetch(`${hall.hubUrl}/api/forwarding/queue/nope`, { headers: { authorization: `Bearer ${hall.adminToken}` } })).status,
    ).toBe(404);
  });
});
