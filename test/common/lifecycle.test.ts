/**
 * Parts with a lifecycle (common/lifecycle.ts), with parts that record what happened to them:
 * the order of starts and stops, a part that fails to start, a part that fails to stop.
 */
import { describe, expect, it } from 'vitest';
import { Parts, type Part } from '../../common/lifecycle.js';

function recorder() {
  const calls: string[] = [];
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  const part = (name: string, o: { failStart?: boolean; failStop?: boolean; slow?: boolean } = {}): Part => ({
    name,
    async start() {
      calls.push(`start ${name}`);
      if (o.slow) await new Promise((r) => setTimeout(r, 5));
      if (o.failStart) throw new Error(`${name} cannot start`);
    },
    async stop() {
      calls.push(`stop ${name}`);
      if (o.failStop) throw new Error(`${name} cannot stop`);
    },
  });
  const log = { error: (obj: object, msg: string) => errors.push({ obj: obj as Record<string, unknown>, msg }) };
  return { calls, errors, part, log };
}

describe('parts start in order and stop in reverse', () => {
  it('starts each part after the one before has finished starting, and stops them in reverse', async () => {
    const r = recorder();
    const parts = new Parts([r.part('store', { slow: true }), r.part('broker', { slow: true }), r.part('http')], r.log);
    await parts.start();
    await parts.stop();
    expect(r.calls).toEqual(['start store', 'start broker', 'start http', 'stop http', 'stop broker', 'stop store']);
  });

  it('a part that fails to start: the parts before it (and it) are stopped in reverse, later ones never start, its error surfaces', async () => {
    const r = recorder();
    const parts = new Parts([r.part('store'), r.part('broker'), r.part('http', { failStart: true }), r.part('later')], r.log);
    await expect(parts.start()).rejects.toThrow('http cannot start');
    expect(r.calls).toEqual(['start store', 'start broker', 'start http', 'stop http', 'stop broker', 'stop store']);
    // Nothing is left to stop afterwards.
    await parts.stop();
    expect(r.calls).toHaveLength(6);
  });

  it('a part that throws on stop: the others still stop, and the error is logged with { err } and the part', async () => {
    const r = recorder();
    const parts = new Parts([r.part('store'), r.part('ledger', { failStop: true }), r.part('http')], r.log);
    await parts.start();
    await parts.stop();
    expect(r.calls.slice(3)).toEqual(['stop http', 'stop ledger', 'stop store']);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.obj).toMatchObject({ part: 'ledger', err: expect.objectContaining({ message: 'ledger cannot stop' }) });
  });

  it('a failed start whose clean-up also throws still stops the rest and surfaces the start error', async () => {
    const r = recorder();
    const parts = new Parts([r.part('store'), r.part('broker', { failStop: true }), r.part('http', { failStart: true })], r.log);
    await expect(parts.start()).rejects.toThrow('http cannot start');
    expect(r.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop http', 'stop broker', 'stop store']);
    expect(r.errors.map((e) => e.obj.part)).toEqual(['broker']);
  });

  it('stopping twice stops each part once; two parts cannot share a name', async () => {
    const r = recorder();
    const parts = new Parts([r.part('a'), r.part('b')], r.log);
    await parts.start();
    await Promise.all([parts.stop(), parts.stop()]);
    await parts.stop();
    expect(r.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop b', 'stop a']);
    expect(() => new Parts([r.part('a'), r.part('a')], r.log)).toThrow(/two parts are named a/);
  });
});
