/**
 * Work orders in SQLite. `work_orders` holds each order's current state; `work_order_events`
 * is its trail — who did what, when, and what it decided. The trail is append-only in SQLite
 * (triggers refuse UPDATE and DELETE) and hash-chained; an order row cannot change unless an
 * event with its new version is already in the trail, and cannot be deleted. So every change
 * is audited by construction, not by discipline.
 */
import { CodedError } from '../../common/errors.js';
import { GENESIS_HASH } from '../../protocol/index.js';
import { chainHash } from '../users/audit.js';
import type { Fact } from '../stats/facts.js';
import type { Db } from '../store/db.js';
import {
  decide,
  isOverdue,
  newOrder,
  Refusal,
  TERMINAL,
  type Actor,
  type Command,
  type Order,
  type OrderEvent,
  type OrderState,
  type Policy,
} from './machine.js';

export const WORKORDERS_MIGRATION = `
  CREATE TABLE work_orders (
    id INTEGER PRIMARY KEY,
    rating_id TEXT NOT NULL UNIQUE,
    window TEXT NOT NULL,
    staff_id TEXT,
    device TEXT,
    level INTEGER NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    item_code TEXT,
    item_name TEXT,
    cases TEXT NOT NULL DEFAULT '[]',
    rated_at INTEGER NOT NULL,
    profile TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('new', 'verifying', 'appealed', 'rectifying', 'revisit', 'closed', 'invalid')),
    class TEXT,
    created_at INTEGER NOT NULL,
    due_at INTEGER,
    handle_due_at INTEGER,
    extensions INTEGER NOT NULL DEFAULT 0,
    redos INTEGER NOT NULL DEFAULT 0,
    appealed_by TEXT,
    appeal_outcome TEXT,
    outcome TEXT,
    late_stages INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX work_orders_open_due ON work_orders (due_at) WHERE state NOT IN ('closed', 'invalid');
  -- Every index ends in the rowid (= id), so these also give 'newest first' within a state/window.
  CREATE INDEX work_orders_state ON work_orders (state);
  CREATE INDEX work_orders_window ON work_orders (window);
  -- Covers the rectification summary of a period (state and lateness by creation time).
  CREATE INDEX work_orders_created ON work_orders (created_at, state, late_stages);

  CREATE TABLE work_order_events (
    n INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES work_orders (id),
    version INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (order_id, version)
  );
  CREATE TRIGGER work_order_events_append_only_u BEFORE UPDATE ON work_order_events BEGIN SELECT RAISE(ABORT, 'work_order_events is append-only'); END;
  CREATE TRIGGER work_order_events_append_only_d BEFORE DELETE ON work_order_events BEGIN SELECT RAISE(ABORT, 'work_order_events is append-only'); END;
  CREATE TRIGGER work_orders_no_delete BEFORE DELETE ON work_orders BEGIN SELECT RAISE(ABORT, 'work orders are never deleted'); END;
  CREATE TRIGGER work_orders_audited BEFORE UPDATE ON work_orders
    WHEN NOT EXISTS (SELECT 1 FROM work_order_events WHERE order_id = NEW.id AND version = NEW.version AND to_state = NEW.state)
      OR NEW.version <> OLD.version + 1
    BEGIN SELECT RAISE(ABORT, 'a work order changes only together with its audit event'); END;
`;

/** The task a 差评 without a reason gets on its order when the hall requires one. */
export const REASON_TASK_NOTE = '待办：评价人未选择差评原因（本厅要求差评须有原因或文字），核实或回访时请了解原因并记入办理记录';

export interface WorkOrder extends Order {
  id: number;
  ratingId: string;
  window: string;
  staffId: string | null;
  device: string | null;
  level: number;
  reasons: string[];
  itemCode: string | null;
  itemName: string | null;
  cases: string[];
  ratedAt: number;
  profile: string;
  updatedAt: number;
}

export interface TrailEntry {
  n: number;
  version: number;
  at: number;
  actor: string;
  role: string;
  action: string;
  from: OrderState | null;
  to: OrderState;
  note: string | null;
  data: Record<string, unknown>;
}

interface Row {
  id: number;
  rating_id: string;
  window: string;
  staff_id: string | null;
  device: string | null;
  level: number;
  reasons: string;
  item_code: string | null;
  item_name: string | null;
  cases: string;
  rated_at: number;
  profile: string;
  state: OrderState;
  class: Order['class'];
  created_at: number;
  due_at: number | null;
  handle_due_at: number | null;
  extensions: number;
  redos: number;
  appealed_by: string | null;
  appeal_outcome: Order['appealOutcome'];
  outcome: Order['outcome'];
  late_stages: number;
  updated_at: number;
  version: number;
}

const fromRow = (r: Row): WorkOrder => ({
  id: r.id,
  ratingId: r.rating_id,
  window: r.window,
  staffId: r.staff_id,
  device: r.device,
  level: r.level,
  reasons: JSON.parse(r.reasons) as string[],
  itemCode: r.item_code,
  itemName: r.item_name,
  cases: JSON.parse(r.cases) as string[],
  ratedAt: r.rated_at,
  profile: r.profile,
  state: r.state,
  class: r.class,
  createdAt: r.created_at,
  dueAt: r.due_at,
  handleDueAt: r.handle_due_at,
  extensions: r.extensions,
  redos: r.redos,
  appealedBy: r.appealed_by,
  appealOutcome: r.appeal_outcome,
  outcome: r.outcome,
  lateStages: r.late_stages,
  updatedAt: r.updated_at,
  version: r.version,
});

export class WorkOrderError extends CodedError<'not-found' | 'stale'> {
  override readonly name = 'WorkOrderError';
  constructor(code: 'not-found' | 'stale', message: string) {
    super(code, message, code === 'not-found' ? 404 : 409);
  }
}

export interface ListFilter {
  /** 'open': not closed or invalid; 'overdue': open and past its limit. */
  state?: OrderState | 'open' | 'overdue' | 'all';
  window?: string;
  limit?: number;
  beforeId?: number;
}

/** One step taken on an order, as WorkOrders.act recorded it (for what leaves the hall: outbound.ts). */
export interface Step {
  before: WorkOrder;
  after: WorkOrder;
  cmd: Command;
  event: OrderEvent;
  actor: Actor;
  at: number;
}

export class WorkOrders {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly policy: () => Policy,
    private readonly now: () => number = Date.now,
    /** Runs inside the transaction that judged a 差评 invalid (takes it out of the statistics). */
    private readonly onInvalid: (ratingId: string) => void = () => {},
    /** Runs inside the transaction of every step (queues milestones, invalidations, hand-offs). */
    private readonly onStep: (s: Step) => void = () => {},
    /** Whether the hall requires a reason for a 差评 (Ankang art. 8): one without gets a task on its order. */
    private readonly reasonRequired: () => boolean = () => false,
  ) {
    this.s = {
      byId: db.prepare<[number], Row>('SELECT * FROM work_orders WHERE id = ?'),
      byRating: db.prepare<[string], Row>('SELECT * FROM work_orders WHERE rating_id = ?'),
      insert: db.prepare(
        `INSERT OR IGNORE INTO work_orders (rating_id, window, staff_id, device, level, reasons, item_code, item_name, cases, rated_at, profile,
          state, class, created_at, due_at, handle_due_at, extensions, redos, appealed_by, appeal_outcome, outcome, late_stages, updated_at, version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      update:
        db.prepare(`UPDATE work_orders SET state = @state, class = @class, due_at = @dueAt, handle_due_at = @handleDueAt, extensions = @extensions, redos = @redos,
        appealed_by = @appealedBy, appeal_outcome = @appealOutcome, outcome = @outcome, late_stages = @lateStages, updated_at = @updatedAt, version = @version WHERE id = @id AND version = @prevVersion`),
      lastHash: db.prepare<[], { hash: string }>('SELECT hash FROM work_order_events ORDER BY n DESC LIMIT 1'),
      event: db.prepare(
        `INSERT INTO work_order_events (order_id, version, at, actor, role, action, from_state, to_state, note, data, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      trail: db.prepare<
        [number],
        {
          n: number;
          version: number;
          at: number;
          actor: string;
          role: string;
          action: string;
          from_state: OrderState | null;
          to_state: OrderState;
          note: string | null;
          data: string;
        }
      >(
        'SELECT n, version, at, actor, role, action, from_state, to_state, note, data FROM work_order_events WHERE order_id = ? ORDER BY n',
      ),
      counts: db.prepare<[number], { open: number; overdue: number }>(
        "SELECT count(*) AS open, coalesce(sum(due_at < ?), 0) AS overdue FROM work_orders WHERE state NOT IN ('closed', 'invalid')",
      ),
    };
  }

  private appendEvent(orderId: number, version: number, at: number, actor: Actor, e: OrderEvent): void {
    const prevHash = this.s.lastHash.get()?.hash ?? GENESIS_HASH;
    const data = JSON.stringify(e.data);
    const fields = {
      orderId,
      version,
      at,
      actor: actor.name,
      role: actor.role,
      action: e.action,
      from: e.from,
      to: e.to,
      note: e.note,
      data,
    };
    const hash = chainHash(prevHash, fields);
    this.s.event.run(orderId, version, at, fields.actor, fields.role, e.action, e.from, e.to, e.note, data, prevHash, hash);
  }

  /**
   * Opens an order for a 差评, once per rating (a repeat is ignored). Call inside the
   * transaction that stored the rating's facts. Returns the new order, or null.
   */
  createFor(f: Fact): WorkOrder | null {
    if (f.level > 2) return null;
    const p = this.policy();
    const createdAt = f.receivedAt;
    const { order, event } = newOrder(createdAt, p);
    if (f.reasons.length === 0 && this.reasonRequired()) {
      // The citizen skipped the reasons twice: whoever verifies or revisits must find out why.
      event.note = REASON_TASK_NOTE;
      event.data.task = 'obtain-reason';
    }
    const reasons = JSON.stringify(f.reasons);
    const cases = JSON.stringify(f.cases);
    // The order as the machine made it (version 1), in one statement (not at 0 and then updated to
    // 1, which ran the audit trigger's lookup for nothing: its event is written just below).
    const r = this.s.insert.run(
      f.id,
      f.window,
      f.staffId,
      f.device,
      f.level,
      reasons,
      f.itemCode,
      f.itemName,
      cases,
      f.at,
      p.profile.id,
      order.state,
      order.class,
      order.createdAt,
      order.dueAt,
      order.handleDueAt,
      order.extensions,
      order.redos,
      order.appealedBy,
      order.appealOutcome,
      order.outcome,
      order.lateStages,
      createdAt,
      order.version,
    );
    if (r.changes === 0) return null;
    const id = Number(r.lastInsertRowid);
    this.appendEvent(id, order.version, this.now(), { name: 'system', role: 'system' }, event);
    // The order is what was just inserted, so it is built from that instead of read back (the
    // re-read was ~5 % of the catch-up's time) — unless SQLite would give a text back changed: it
    // replaces a lone UTF-16 surrogate, which a device's JSON can carry (\ud800).
    if ([f.id, f.window, f.staffId, f.device, f.itemCode, f.itemName, p.profile.id].some(changedByStore)) return this.get(id);
    return {
      id,
      ratingId: f.id,
      window: f.window,
      staffId: f.staffId,
      device: f.device,
      level: f.level,
      // As a read would give them: parsed from what was stored, not the fact's own arrays.
      reasons: JSON.parse(reasons) as string[],
      itemCode: f.itemCode,
      itemName: f.itemName,
      cases: JSON.parse(cases) as string[],
      ratedAt: f.at,
      profile: p.profile.id,
      ...order, // what the insert wrote
      updatedAt: createdAt,
    };
  }

  get(id: number): WorkOrder | null {
    const r = this.s.byId.get(id);
    return r ? fromRow(r) : null;
  }

  byRating(ratingId: string): WorkOrder | null {
    const r = this.s.byRating.get(ratingId);
    return r ? fromRow(r) : null;
  }

  /**
   * Applies a command for `actor`. `expectVersion` (the version the person saw) refuses a
   * stale form instead of silently acting on a changed order. Throws Refusal or WorkOrderError.
   */
  act(id: number, cmd: Command, actor: Actor, expectVersion?: number): WorkOrder {
    return this.db.transaction(() => {
      const cur = this.get(id);
      if (!cur) throw new WorkOrderError('not-found', `没有工单 ${id}`);
      if (expectVersion !== undefined && expectVersion !== cur.version)
        throw new WorkOrderError('stale', `工单 ${id} 已被他人更新，请刷新后再办理 (order changed since you saw it)`);
      const now = this.now();
      const d = decide(cur, cmd, actor, now, this.policy());
      if (!d.ok) throw d.refusal;
      this.appendEvent(id, d.next.version, now, actor, d.event);
      this.s.update.run({ ...d.next, id, updatedAt: now, prevVersion: cur.version });
      if (d.next.state === 'invalid' && cur.state !== 'invalid') this.onInvalid(cur.ratingId);
      const after = this.get(id)!;
      this.onStep({ before: cur, after, cmd, event: d.event, actor, at: now });
      return after;
    })();
  }

  trail(id: number): TrailEntry[] {
    return this.s.trail.all(id).map((r) => ({
      n: r.n,
      version: r.version,
      at: r.at,
      actor: r.actor,
      role: r.role,
      action: r.action,
      from: r.from_state,
      to: r.to_state,
      note: r.note,
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  }

  list(f: ListFilter = {}): WorkOrder[] {
    const limit = Math.min(f.limit ?? 100, 1000);
    const before = f.beforeId ?? Number.MAX_SAFE_INTEGER;
    const where: string[] = ['id < @before'];
    const params: Record<string, unknown> = { before, limit, now: this.now() };
    let order = 'id DESC';
    if (f.window) {
      where.push('window = @window');
      params.window = f.window;
    }
    switch (f.state ?? 'open') {
      case 'all':
        break;
      case 'open':
        where.push("state NOT IN ('closed', 'invalid')");
        order = 'due_at';
        break;
      case 'overdue':
        where.push("state NOT IN ('closed', 'invalid') AND due_at < @now");
        order = 'due_at';
        break;
      default:
        where.push('state = @state');
        params.state = f.state;
    }
    return this.db
      .prepare<[Record<string, unknown>], Row>(`SELECT * FROM work_orders WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT @limit`)
      .all(params)
      .map(fromRow);
  }

  /** Open orders and how many of them are past their limit. */
  counts(): { open: number; overdue: number } {
    return this.s.counts.get(this.now())!;
  }

  isOverdue(o: Order): boolean {
    return isOverdue(o, this.now());
  }

  /** Checks the trail's hash chain; returns the first event that does not fit, or null. */
  verifyTrail(): { n: number; reason: string } | null {
    let prev = GENESIS_HASH;
    const rows = this.db
      .prepare<[], Record<string, unknown> & { n: number; prev_hash: string; hash: string }>('SELECT * FROM work_order_events ORDER BY n')
      .iterate();
    for (const r of rows) {
      if (r.prev_hash !== prev) return { n: r.n, reason: 'previous hash does not match' };
      if (chainHash(prev, eventHashFields(r)) !== r.hash) return { n: r.n, reason: 'content does not match its hash' };
      prev = r.hash;
    }
    return null;
  }
}

export { Refusal, TERMINAL };

/** Whether SQLite would give `s` back different: it stores text as UTF-8, so a lone surrogate comes back replaced. */
const changedByStore = (s: string | null): boolean => s !== null && /\p{Cs}/u.test(s);

/** What a work-order event's chain hash covers, from its stored row (the store and `hub verify` both check it). */
export function eventHashFields(r: Record<string, unknown>): Record<string, unknown> {
  return {
    orderId: r.order_id,
    version: r.version,
    at: r.at,
    actor: r.actor,
    role: r.role,
    action: r.action,
    from: r.from_state,
    to: r.to_state,
    note: r.note,
    data: r.data,
  };
}
