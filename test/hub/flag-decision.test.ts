/**
 * The forward decision with the flag policy, over a real SQLite file and the hub's own session
 * book (no broker): what is queued for the province, what a session becomes, what is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkingDayCalendar } from '../../hub/calendar/working-days.js';
import { createMetrics } from '../../hub/metrics.js';
import { RatingJudge } from '../../hub/policy/rating-judge.js';
import { Registry } from '../../hub/registry/registry.js';
import { SessionBook } from '../../hub/sessions/session-book.js';
import { openHubDb } from '../../hub/store/db.js';
import type { RatingRecord } from '../../protocol/index.js';
import { silentLog } from '../helpers/log.js';
import { generateDeviceKeys, makeRecord } from '../helpers/records.js';

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
});

function setup(mode: 'session' | 'walk-up' = 'session') {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-decide-'));
  const db = openHubDb(join(dir, 'hub.db'));
  cleanup = () => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const clock = { t: Date.parse('2026-10-08T09:00:00+08:00') };
  const registry = new Registry(db, 'hall-1', () => clock.t);
  registry.add({ window: '12', id: 'ev-001', settings: { mode } });
  const metrics = createMetrics();
  const judge = new RatingJudge(db, registry, metrics);
  const book = new SessionBook({
    db,
    hall: 'hall-1',
    metrics,
    log: silentLog(),
    period: { unit: 'calendar-days', count: 7 },
    calendar: new WorkingDayCalendar(),
    now: () => clock.t,
    judge: judge.judge,
  });
  const keys = generateDeviceKeys();
  let seq = 0;
  /** Stores a record as ingest does: the row, then the session book's decision, in one transaction. */
  const store = (over: Partial<RatingRecord>) => {
    const r = makeRecord(keys, { seq: ++seq, ...over });
    db.transaction(() => {
      db.prepare(
        `INSERT INTO ratings (id, device, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body) VALUES (?, 'ev-001', ?, 'hall-1', '12', NULL, ?, ?, '[]', ?, '[]', ?, 1, ?, ?, ?)`,
      ).run(r.id, r.seq, r.kind, r.level, r.session?.id ?? null, r.at, clock.t, r.id, JSON.stringify(r));
      book.onRecordStored(r, clock.t);
    })();
    return r;
  };
  const queued = () =>
    db
      .prepare<[], { kind: string; record_id: string | null; payload: string }>(
        'SELECT kind, record_id, p.payload FROM forward_queue AS q JOIN forward_payload AS p ON p.n = q.rowid ORDER BY q.rowid',
      )
      .all();
  return { db, clock, registry, book, store, queued };
}
const ref = (id: string) => ({ id, cases: ['BJ1'], itemCode: 'X1', itemName: '户籍' });

describe("the forward decision follows the hall's flag policy", () => {
  it('a press excluded by the policy leaves its session open: nothing goes to the province until the 7-day default', () => {
    const h = setup();
    h.registry.setHallSettings({ flagPolicy: { 'too-soon': 'exclude' } });
    const s = h.book.open({ device: 'ev-001', window: '12', cases: ['BJ1'], itemCode: 'X1', itemName: '户籍', staffId: null }).session;
    const r = h.store({ level: 5, reasons: [], flags: ['too-soon'], session: ref(s.id) });
    expect(h.queued()).toEqual([]);
    expect(h.book.get(s.id)).toMatchObject({ state: 'open', ratingId: null, counted: null });
    expect(h.db.prepare('SELECT action, flags FROM rating_decisions WHERE rating_id = ?').get(r.id)).toEqual({
      action: 'exclude',
      flags: '["too-soon"]',
    });
    h.clock.t = s.deadlineAt;
    expect(h.book.createDueDefaults()).toBe(1);
    expect(h.queued().map((q) => q.kind)).toEqual(['default']);
  });

  it('a counted-but-flagged rating is forwarded with the flags as the hub sees them', () => {
    const h = setup();
    const s = h.book.open({ device: 'ev-001', window: '12', cases: ['BJ1'], itemCode: 'X1', itemName: '户籍', staffId: null }).session;
    // The device claims no-session while answering the hub's session: the hub's truth wins.
    h.store({ level: 4, reasons: [], flags: ['too-soon', 'no-session'], session: ref(s.id) });
    const [q] = h.queued();
    expect(q!.kind).toBe('rating');
    expect(JSON.parse(q!.payload).flags).toEqual(['too-soon']);
    expect(h.book.get(s.id)!.state).toBe('rated');
  });

  it('a session the hub never opened is no session: in session mode the press is kept, not forwarded', () => {
    const h = setup();
    const r = h.store({ level: 5, reasons: [], session: ref('forged-session') });
    expect(h.queued()).toEqual([]);
    expect(h.db.prepare('SELECT action FROM rating_decisions WHERE rating_id = ?').get(r.id)).toEqual({ action: 'exclude' });
    expect(h.db.prepare('SELECT count(*) AS n FROM ratings').get()).toEqual({ n: 1 });
  });

  it('in walk-up mode every press is forwarded as a rating, flagged walk-up', () => {
    const h = setup('walk-up');
    h.store({ level: 5, reasons: [], session: null, flags: ['walk-up'] });
    expect(h.queued().map((q) => [q.kind, JSON.parse(q.payload).flags])).toEqual([['rating', ['walk-up']]]);
  });

  it('not-rated reports are not judged', () => {
    const h = setup();
    const s = h.book.open({ device: 'ev-001', window: '12', cases: ['BJ1'], itemCode: 'X1', itemName: '户籍', staffId: null }).session;
    h.store({ kind: 'not-rated', level: null, reasons: [], session: ref(s.id) });
    expect(h.db.prepare('SELECT count(*) AS n FROM rating_decisions').get()).toEqual({ n: 0 });
  });
});
