import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, OutboxFullError } from '../../device/outbox/outbox.js';
import { GENESIS_HASH, OversizedMessageError, recordHash, signRecord, newRecordId, type RatingRecord } from '../../protocol/index.js';
import { generateDeviceKeys } from '../helpers/records.js';
import { waitFor } from '../helpers/wait.js';

const keys = generateDeviceKeys();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hcp-outbox-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function append(o: Outbox, level: 1 | 2 | 3 | 4 | 5 = 5): RatingRecord {
  return o.append((link) =>
    signRecord(
      {
        v: 1,
        id: newRecordId(),
        hall: 'h',
        device: 'd',
        window: '1',
        staffId: null,
        seq: link.seq,
        kind: 'rating',
        level,
        reasons: [],
        catalogue: 'c',
        session: null,
        at: 1,
        clockSynced: false,
        bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
        mono: 0,
        flags: [],
        prev: link.prev,
      },
      keys.privateKey,
    ),
  );
}

describe('the device outbox', () => {
  it('never commits a record larger than the protocol allows: nothing is written, the chain does not move', () => {
    const o = new Outbox(join(dir, 'o.db'));
    const a = append(o);
    const cases = Array.from({ length: 50 }, () => '办'.repeat(61));
    expect(() =>
      o.append((link) =>
        signRecord(
          {
            v: 1,
            id: newRecordId(),
            hall: 'h',
            device: 'd',
            window: '1',
            staffId: null,
            seq: link.seq,
            kind: 'rating',
            level: 1,
            reasons: [],
            catalogue: 'c',
            session: { id: 's', cases, itemCode: null, itemName: null },
            at: 1,
            clockSynced: false,
            bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
            mono: 0,
            flags: [],
            prev: link.prev,
          },
          keys.privateKey,
        ),
      ),
    ).toThrow(OversizedMessageError);
    expect(o.head()).toEqual({ seq: 1, hash: recordHash(a) });
    expect(o.depth()).toBe(1);
    expect(append(o).seq).toBe(2);
    o.close();
  });

  it('numbers records 1, 2, 3… and chains them by hash', () => {
    const o = new Outbox(join(dir, 'o.db'));
    const [a, b, c] = [append(o), append(o), append(o)];
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3]);
    expect(a.prev).toBe(GENESIS_HASH);
    expect(b.prev).toBe(recordHash(a));
    expect(c.prev).toBe(recordHash(b));
    o.close();
  });

  it('continues sequence and chain after a restart, never repeating a number', () => {
    let o = new Outbox(join(dir, 'o.db'));
    const a = append(o);
    append(o);
    o.markAcked([{ seq: 1, id: a.id }]);
    o.close();
    o = new Outbox(join(dir, 'o.db'));
    const c = append(o);
    expect(c.seq).toBe(3);
    expect(o.head()).toEqual({ seq: 3, hash: recordHash(c) });
    o.close();
  });

  it('gives undelivered records in sequence order and forgets none until acknowledged', () => {
    const o = new Outbox(join(dir, 'o.db'));
    const rs = [append(o), append(o), append(o), append(o)];
    expect(o.pending(10).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(o.pending(2, 1).map((r) => r.seq)).toEqual([2, 3]);
    // An ack with a matching seq but another id is not an ack for this record.
    expect(o.markAcked([{ seq: 2, id: rs[0]!.id }])).toBe(0);
    expect(
      o.markAcked([
        { seq: 2, id: rs[1]!.id },
        { seq: 3, id: rs[2]!.id },
      ]),
    ).toBe(2);
    expect(o.pending(10).map((r) => r.seq)).toEqual([1, 4]);
    expect(o.stats().depth).toBe(2);
    o.close();
  });

  it('commits every rating with FULL sync (fsync) even right after acknowledgements, which are marked without one', () => {
    const o = new Outbox(join(dir, 'o.db'));
    expect(o.syncLevel()).toBe(2); // FULL
    const r = append(o);
    expect(o.markAcked([{ seq: r.seq, id: r.id }])).toBe(1);
    expect(o.syncLevel()).toBe(2); // the next rating is fsync'd again
    // A mark that fails half-way rolls back and leaves FULL in force too.
    const r2 = append(o);
    expect(() =>
      o.markAcked([
        { seq: r2.seq, id: r2.id },
        { seq: 99, id: {} as unknown as string },
      ]),
    ).toThrow();
    expect(o.syncLevel()).toBe(2);
    expect(o.pending(10).map((x) => x.seq)).toEqual([2]);
    o.close();
  });

  it('appends made in one transaction commit together, chained, or not at all', () => {
    const o = new Outbox(join(dir, 'o.db'), 4);
    const rs = o.appendInOneTransaction(() => [append(o), append(o), append(o)]);
    expect(rs.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(rs[2]!.prev).toBe(recordHash(rs[1]!));
    // The fifth append overflows the capacity: the fourth, made before it, is not kept either.
    expect(() => o.appendInOneTransaction(() => [append(o), append(o)])).toThrow(OutboxFullError);
    expect(o.head()).toEqual({ seq: 3, hash: recordHash(rs[2]!) });
    o.close();
    const reopened = new Outbox(join(dir, 'o.db'), 4);
    expect(reopened.pending(10).map((r) => r.id)).toEqual(rs.map((r) => r.id));
    expect(append(reopened).seq).toBe(4);
    reopened.close();
  });

  it('when full refuses new ratings instead of dropping undelivered ones', () => {
    const o = new Outbox(join(dir, 'o.db'), 2);
    const a = append(o);
    append(o);
    expect(() => append(o)).toThrow(OutboxFullError);
    expect(o.pending(10)).toHaveLength(2);
    o.markAcked([{ seq: 1, id: a.id }]);
    expect(append(o).seq).toBe(3);
    o.close();
  });

  it('keeps every thanked record through a SIGKILL at a random instant', async () => {
    const path = join(dir, 'o.db');
    const child = spawn(process.execPath, [join(import.meta.dirname, '../fixtures/outbox-writer.mjs'), path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    await waitFor(() => out.split('\n').length > 50 + Math.floor(Math.random() * 200), 'the writer to thank some presses');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r)); // after stdout is read to the end
    const thanked = out
      .split('\n')
      .filter((l) => l.startsWith('thanked '))
      .map((l) => Number(l.slice(8)));
    const o = new Outbox(path);
    const stored = o.pending(1_000_000);
    // Every thanked seq is there; at most the one being written when killed is extra.
    expect(stored.length).toBeGreaterThanOrEqual(thanked.length);
    expect(stored.length - thanked.length).toBeLessThanOrEqual(1);
    expect(stored.map((r) => r.seq)).toEqual(stored.map((_, i) => i + 1));
    for (let i = 1; i < stored.length; i++) expect(stored[i]!.prev).toBe(recordHash(stored[i - 1]!));
    expect(append(o).seq).toBe(stored.length + 1);
    o.close();
  });
});

describe('outbox retention: bounded by sequence, never by wall clock', () => {
  it('keeps only the newest N delivered records; undelivered and refused ones are never pruned', () => {
    const o = new Outbox(join(dir, 'o.db'), { retainDelivered: 3 });
    const rs = Array.from({ length: 10 }, () => append(o));
    o.markRejected([{ seq: 2, id: rs[1]!.id, reason: 'bad-signature' }]);
    o.markAcked(rs.filter((r) => r.seq !== 2 && r.seq !== 9).map((r) => ({ seq: r.seq, id: r.id })));
    const s = o.stats();
    expect(s).toMatchObject({ depth: 1, delivered: 3, rejected: 1, lastSeq: 10 });
    expect(o.pending(10).map((r) => r.seq)).toEqual([9]);
    expect(o.rejectedRecords().map((r) => [r.record.seq, r.reason])).toEqual([[2, 'bad-signature']]);
    expect(append(o).seq).toBe(11);
    o.close();
  });

  it('records carry device time only for display: a wrong clock (1970, or years ahead) changes nothing about pruning', () => {
    const o = new Outbox(join(dir, 'o.db'), { retainDelivered: 1 });
    const build = (at: number) => (link: { seq: number; prev: string }) =>
      signRecord(
        {
          v: 1,
          id: newRecordId(),
          hall: 'h',
          device: 'd',
          window: '1',
          staffId: null,
          seq: link.seq,
          kind: 'rating',
          level: 5,
          reasons: [],
          catalogue: 'c',
          session: null,
          at,
          clockSynced: false,
          bootId: '0b8f0c2e-6a4e-4a53-9a0e-3c1d2e3f4a5b',
          mono: 0,
          flags: [],
          prev: link.prev,
        },
        keys.privateKey,
      );
    const a = o.append(build(4_102_444_800_000)); // 2100
    const b = o.append(build(0)); // 1970
    o.markAcked([
      { seq: a.seq, id: a.id },
      { seq: b.seq, id: b.id },
    ]);
    const c = o.append(build(1));
    o.markAcked([{ seq: c.seq, id: c.id }]);
    expect(o.stats().delivered).toBe(1); // the newest by sequence stays, whatever its clock said
    o.close();
  });

  it('canAccept really writes: it fails while the size cap is reached and succeeds once delivered records are pruned', () => {
    const o = new Outbox(join(dir, 'o.db'), { maxPages: 12, retainDelivered: 0 });
    const rs: RatingRecord[] = [];
    for (;;) {
      try {
        rs.push(append(o));
      } catch (e) {
        expect((e as Error).name).toBe('OutboxStorageFullError');
        break;
      }
    }
    expect(o.canAccept().ok).toBe(false);
    o.markAcked(rs.map((r) => ({ seq: r.seq, id: r.id })));
    expect(o.canAccept().ok).toBe(true);
    expect(append(o).seq).toBe(rs.length + 1);
    o.close();
  });
});

describe('the outbox after the hub was restored from a backup', () => {
  it('a hub head below what was acknowledged makes the kept delivered records after it undelivered again, and nothing else', () => {
    const o = new Outbox(join(dir, 'o.db'), { retainDelivered: 3 });
    const rs = [1, 2, 3, 4, 5, 6].map(() => append(o));
    o.markAcked(rs.slice(0, 5).map((r) => ({ seq: r.seq, id: r.id })));
    // Kept: the newest three delivered (3, 4, 5); 6 is still undelivered.
    expect(o.rewindAfter(3)).toBe(2);
    expect(o.pending(10).map((r) => r.seq)).toEqual([4, 5, 6]);
    // The hub holds everything: nothing changes.
    expect(o.rewindAfter(6)).toBe(0);
    // Older than what is kept: gone for good (the hub shows the gap); only what is kept comes back.
    o.markAcked(o.pending(10).map((r) => ({ seq: r.seq, id: r.id })));
    expect(o.rewindAfter(0)).toBe(3);
    expect(o.pending(10).map((r) => r.seq)).toEqual([4, 5, 6]);
    o.close();
  });
});
