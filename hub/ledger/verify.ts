/**
 * `hub verify` and the daily audit: re-checks everything the hub keeps against what it was
 * derived from or signed as, and names every row that does not fit.
 *
 * - ratings: each body against its device's signature (the key of its epoch), its stored hash,
 *   the columns copied out of it, and the chain link to the record before it; a hole in a
 *   chain that ingest never recorded as a gap is a deleted record; each device's chain head.
 * - rating_facts: each fact against its rating (level, device) or its hub-made default, and
 *   its day/month against its time; a fact whose source is gone.
 * - stat_daily / stat_monthly: every kept count against a recount of the facts.
 * - audit_log and work_order_events: their hash chains; work_orders against their trails.
 * - ledger_checkpoints: each signature (hub key), the chain between them, and each day's
 *   digest recomputed from what is stored now.
 *
 * One streaming pass over ratings (with its fact joined), then cheap SQL passes; inside one
 * read transaction, so a running hub's writes do not show half-way. `yieldEvery` lets the
 * running hub's event loop breathe between chunks (run it on its own connection).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { checkSigned, GENESIS_HASH, importPublicKey, type RatingRecord } from '../../protocol/index.js';
import { dayFromNumber, dayNumber } from '../calendar/working-days.js';
import { checkForwardCounts } from '../forwarder/queue.js';
import { factFromRecord, monthOfDay, ROLLUP_KEYS, ROLLUPS, rollupSelect } from '../stats/facts.js';
import type { Db } from '../store/db.js';
import { chainHash } from '../users/audit.js';
import { eventHashFields } from '../workorders/store.js';
import { computeDayDigest } from './checkpoints.js';
import { checkpointHash, checkpointSignatureOk, digestDifferences, type DayDigest } from './digest.js';

/** One thing that does not fit: which table, which row, what differs. */
export interface Finding {
  table: string;
  key: string;
  problem: string;
  /** What is stored. */
  stored?: string;
  /** What it should be (from the signed record, the recount, the chain). */
  expected?: string;
}

export interface VerifyReport {
  ok: boolean;
  findings: Finding[];
  /** More findings than maxFindings: the rest were counted, not listed. */
  omitted: number;
  checked: {
    ratings: number;
    facts: number;
    rollupRows: number;
    auditRows: number;
    workOrderEvents: number;
    workOrders: number;
    checkpoints: number;
  };
  ms: number;
  /** Milliseconds per check, to see where the time goes on a big database. */
  phases: Record<string, number>;
}

export interface VerifyOptions {
  /** The hub's public key, to check checkpoint signatures (without it they are recomputed, not authenticated). */
  hubKey?: KeyObject | null;
  /** Yield to the event loop after this many ratings (0: never; the CLI). */
  yieldEvery?: number;
  maxFindings?: number;
}

const str = (v: unknown): string => (v === null || v === undefined ? 'NULL' : typeof v === 'string' ? v : JSON.stringify(v));
const tick = () => new Promise<void>((r) => setImmediate(r));

interface RatingRow {
  id: string;
  device: string;
  epoch: number;
  seq: number;
  hall: string;
  kind: string;
  level: number | null;
  reasons: string;
  flags: string;
  device_at: number;
  clock_synced: number;
  received_at: number;
  hash: string;
  body: string;
  f_id: string | null;
  f_level: number | null;
  f_device: string | null;
  f_channel: string | null;
  f_at: number | null;
  f_received: number | null;
}

export async function verifyLedger(db: Db, o: VerifyOptions = {}): Promise<VerifyReport> {
  const t0 = Date.now();
  const max = o.maxFindings ?? 1000;
  const findings: Finding[] = [];
  let omitted = 0;
  const add = (f: Finding) => {
    if (findings.length < max) findings.push(f);
    else omitted++;
  };
  const phases: Record<string, number> = {};
  const checked = { ratings: 0, facts: 0, rollupRows: 0, auditRows: 0, workOrderEvents: 0, workOrders: 0, checkpoints: 0 };

  db.exec('BEGIN'); // one snapshot for every pass
  try {
    const timed = async (name: string, f: () => void | Promise<void>) => {
      const t = Date.now();
      await f();
      phases[name] = Date.now() - t;
    };
    await timed('ratings', () => checkRatings(db, add, checked, o.yieldEvery ?? 0));
    await timed('facts', () => checkFacts(db, add, checked));
    await timed('rollups', () => checkRollups(db, add, checked));
    await timed('forward_counts', () => checkForwardQueueCounts(db, add));
    await timed('audit_log', () =>
      checkHashChain(db, 'audit_log', add, checked, (r) => ({
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
        detail: r.detail,
      })),
    );
    await timed('work_order_events', () => checkHashChain(db, 'work_order_events', add, checked, eventHashFields));
    await timed('work_orders', () => checkWorkOrders(db, add, checked));
    await timed('checkpoints', () => checkCheckpoints(db, add, checked, o.hubKey ?? null));
  } finally {
    db.exec('COMMIT');
  }
  return { ok: findings.length === 0 && omitted === 0, findings, omitted, checked, phases, ms: Date.now() - t0 };
}

type Add = (f: Finding) => void;
type Checked = VerifyReport['checked'];

/** Gap ranges ingest recorded per device/epoch: a hole in a chain is explained only by one of these. */
function loadGaps(db: Db): Map<string, [number, number][]> {
  const gaps = new Map<string, [number, number][]>();
  for (const g of db
    .prepare<[], { device: string; epoch: number; from_seq: number; to_seq: number }>(
      'SELECT device, epoch, from_seq, to_seq FROM gaps ORDER BY device, epoch, from_seq',
    )
    .iterate()) {
    const k = `${g.device}/${g.epoch}`;
    let list = gaps.get(k);
    if (!list) gaps.set(k, (list = []));
    list.push([g.from_seq, g.to_seq]);
  }
  return gaps;
}

/** The parts of [from, to] no recorded gap covers, as "a–b" strings. */
function unexplained(gaps: [number, number][] | undefined, from: number, to: number): string[] {
  const out: string[] = [];
  let next = from;
  for (const [a, b] of gaps ?? []) {
    if (b < next) continue;
    if (a > to) break;
    if (a > next) out.push(a - 1 === next ? String(next) : `${next}–${a - 1}`);
    next = Math.max(next, b + 1);
    if (next > to) break;
  }
  if (next <= to) out.push(next === to ? String(next) : `${next}–${to}`);
  return out;
}

function flagsStartWith(column: string, signed: readonly string[]): boolean {
  try {
    const stored = JSON.parse(column) as unknown;
    return Array.isArray(stored) && signed.every((f, i) => stored[i] === f);
  } catch {
    return false;
  }
}

async function checkRatings(db: Db, add: Add, checked: Checked, yieldEvery: number): Promise<void> {
  const keys = new Map<string, KeyObject | null>();
  for (const k of db
    .prepare<[], { device: string; epoch: number; public_key: string }>('SELECT device, epoch, public_key FROM device_keys')
    .iterate()) {
    let key: KeyObject | null = null;
    try {
      key = importPublicKey(k.public_key);
    } catch {
      add({ table: 'device_keys', key: `${k.device}/${k.epoch}`, problem: 'public key is not a valid Ed25519 key' });
    }
    keys.set(`${k.device}/${k.epoch}`, key);
  }
  const devices = new Map(
    db
      .prepare<[], { id: string; key_epoch: number; chain_seq: number; chain_hash: string }>(
        'SELECT id, key_epoch, chain_seq, chain_hash FROM devices',
      )
      .all()
      .map((d) => [d.id, d]),
  );
  const gaps = loadGaps(db);
  const seen = new Set<string>();

  let group = '';
  let prev: { seq: number; hash: string } | null = null;
  let groupDevice = '';
  let groupEpoch = 0;
  const closeGroup = () => {
    if (!group || !prev) return;
    seen.add(group);
    const d = devices.get(groupDevice);
    if (!d) return add({ table: 'ratings', key: group, problem: 'records of a device the registry does not know' });
    if (d.key_epoch !== groupEpoch) return; // an earlier epoch: its head is no longer kept
    if (d.chain_seq > prev.seq) {
      const lost = unexplained(gaps.get(group), prev.seq + 1, d.chain_seq);
      // Ingest advances the head only by storing the record at it: that record must be here.
      add({
        table: 'ratings',
        key: `${group} seq ${d.chain_seq}`,
        problem: `the chain head's record is not stored (deleted?)${lost.length ? `; missing seq ${lost.join(', ')}` : ''}`,
        stored: `last stored seq ${prev.seq}`,
        expected: `seq ${d.chain_seq}`,
      });
    } else if (d.chain_seq < prev.seq) {
      add({
        table: 'devices',
        key: `${groupDevice} chain_seq`,
        problem: 'stored records go past the recorded chain head',
        stored: String(d.chain_seq),
        expected: String(prev.seq),
      });
    } else if (d.chain_hash !== prev.hash) {
      add({
        table: 'devices',
        key: `${groupDevice} chain_hash`,
        problem: 'chain head hash is not the hash of the last stored record',
        stored: d.chain_hash,
        expected: prev.hash,
      });
    }
  };

  const rows = db
    .prepare<[], RatingRow>(
      `SELECT r.id, r.device, r.epoch, r.seq, r.hall, r.kind, r.level, r.reasons, r.flags, r.device_at, r.clock_synced, r.received_at, r.hash, r.body,
         f.id AS f_id, f.level AS f_level, f.device AS f_device, f.channel AS f_channel, f.at AS f_at, f.received_at AS f_received
       FROM ratings r LEFT JOIN rating_facts f ON f.id = r.id ORDER BY r.device, r.epoch, r.seq`,
    )
    .iterate();
  for (const row of rows) {
    const g = `${row.device}/${row.epoch}`;
    if (g !== group) {
      closeGroup();
      group = g;
      groupDevice = row.device;
      groupEpoch = row.epoch;
      prev = null;
    }
    const at = `${row.id} (${g} seq ${row.seq})`;
    checked.ratings++;
    let rec: RatingRecord | null = null;
    try {
      rec = JSON.parse(row.body) as RatingRecord;
    } catch {
      add({ table: 'ratings', key: at, problem: 'body is not JSON' });
    }
    if (rec) {
      const key = keys.get(g);
      const { hash: h, signed } = checkSigned(rec, key);
      if (h !== row.hash)
        add({ table: 'ratings', key: at, problem: 'hash column is not the hash of the body', stored: row.hash, expected: h });
      if (!key) add({ table: 'ratings', key: at, problem: `no key is known for ${g}: the signature cannot be checked` });
      else if (!signed)
        add({ table: 'ratings', key: at, problem: "body does not carry the device's signature (edited after it was signed)" });
      // These columns are copies of the signed body, for queries: each must say what it says.
      // (window, staff_id and session_id are the hub's own attribution, not the device's claim;
      // the hub may add flags of its own after the device's.)
      const copies: [string, unknown, unknown][] = [
        ['id', row.id, rec.id],
        ['device', row.device, rec.device],
        ['seq', row.seq, rec.seq],
        ['hall', row.hall, rec.hall],
        ['kind', row.kind, rec.kind],
        ['level', row.level, rec.level ?? null],
        ['reasons', row.reasons, JSON.stringify(rec.reasons)],
        ['device_at', row.device_at, rec.at],
        ['clock_synced', row.clock_synced, rec.clockSynced ? 1 : 0],
      ];
      for (const [col, stored, signed] of copies)
        if (stored !== signed)
          add({
            table: 'ratings',
            key: `${at} ${col}`,
            problem: `${col} differs from the signed record`,
            stored: str(stored),
            expected: str(signed),
          });
      if (!flagsStartWith(row.flags, rec.flags))
        add({
          table: 'ratings',
          key: `${at} flags`,
          problem: "flags do not begin with the signed record's flags",
          stored: row.flags,
          expected: `${JSON.stringify(rec.flags)}…`,
        });

      // The chain: each record names the hash of the one before it.
      if (!prev) {
        if (row.seq === 1 && rec.prev !== GENESIS_HASH)
          add({
            table: 'ratings',
            key: at,
            problem: 'first record of the chain does not start from the genesis hash',
            stored: rec.prev,
            expected: GENESIS_HASH,
          });
        else if (row.seq > 1) {
          const lost = unexplained(gaps.get(g), 1, row.seq - 1);
          if (lost.length)
            add({
              table: 'ratings',
              key: `${g} seq ${lost.join(', ')}`,
              problem: 'missing from the chain, and ingest never recorded them as a gap: deleted after they were stored',
            });
        }
      } else if (row.seq === prev.seq + 1) {
        if (rec.prev !== prev.hash)
          add({
            table: 'ratings',
            key: at,
            problem: 'prev does not name the stored record before it',
            stored: rec.prev,
            expected: prev.hash,
          });
      } else {
        const lost = unexplained(gaps.get(g), prev.seq + 1, row.seq - 1);
        if (lost.length)
          add({
            table: 'ratings',
            key: `${g} seq ${lost.join(', ')}`,
            problem: 'missing from the chain, and ingest never recorded them as a gap: deleted after they were stored',
          });
      }

      // Its fact (when it counts): same level, same device, time from the record.
      if (row.f_id !== null) {
        const f = factFromRecord(rec, row.received_at);
        if (!f) add({ table: 'rating_facts', key: row.id, problem: `a fact for a record of kind ${rec.kind} without a level` });
        else {
          if (row.f_channel !== 'device')
            add({
              table: 'rating_facts',
              key: `${row.id} channel`,
              problem: 'channel differs from its source',
              stored: str(row.f_channel),
              expected: 'device',
            });
          if (row.f_level !== f.level)
            add({
              table: 'rating_facts',
              key: `${row.id} level`,
              problem: 'level differs from the signed record',
              stored: str(row.f_level),
              expected: str(f.level),
            });
          if (row.f_device !== f.device)
            add({
              table: 'rating_facts',
              key: `${row.id} device`,
              problem: 'device differs from the signed record',
              stored: str(row.f_device),
              expected: str(f.device),
            });
          if (row.f_received !== row.received_at)
            add({
              table: 'rating_facts',
              key: `${row.id} received_at`,
              problem: 'received_at differs from the rating',
              stored: str(row.f_received),
              expected: str(row.received_at),
            });
          if (row.f_at !== f.at)
            add({
              table: 'rating_facts',
              key: `${row.id} at`,
              problem: 'time differs from the signed record',
              stored: str(row.f_at),
              expected: str(f.at),
            });
        }
      }
    }
    prev = { seq: row.seq, hash: row.hash };
    if (yieldEvery > 0 && checked.ratings % yieldEvery === 0) await tick();
  }
  closeGroup();
  for (const d of devices.values()) {
    if (d.chain_seq > 0 && !seen.has(`${d.id}/${d.key_epoch}`)) {
      add({
        table: 'ratings',
        key: `${d.id}/${d.key_epoch} seq 1–${d.chain_seq}`,
        problem: "the device's chain head says records were stored, none are (deleted?)",
        stored: 'none',
        expected: `seq up to ${d.chain_seq}`,
      });
    }
  }
}

function checkFacts(db: Db, add: Add, checked: Checked): void {
  const rows = db
    .prepare<
      [],
      {
        id: string;
        channel: string;
        level: number;
        at: number;
        day: number;
        month: number;
        has_rating: number | null;
        payload: string | null;
      }
    >(
      `SELECT f.id, f.channel, f.level, f.at, f.day, f.month,
         (SELECT 1 FROM ratings r WHERE r.id = f.id) AS has_rating,
         (SELECT p.payload FROM forward_queue q JOIN forward_payload p ON p.n = q.rowid WHERE q.id = f.id AND f.channel IN ('default', 'qr')) AS payload
       FROM rating_facts f`,
    )
    .iterate();
  for (const f of rows) {
    checked.facts++;
    const day = dayNumber(f.at);
    if (f.day !== day)
      add({
        table: 'rating_facts',
        key: `${f.id} day`,
        problem: 'day is not the day of its time',
        stored: dayFromNumber(f.day),
        expected: dayFromNumber(day),
      });
    else if (f.month !== monthOfDay(day))
      add({
        table: 'rating_facts',
        key: `${f.id} month`,
        problem: 'month is not the month of its day',
        stored: String(f.month),
        expected: String(monthOfDay(day)),
      });
    if (f.channel === 'device') {
      if (!f.has_rating)
        add({
          table: 'rating_facts',
          key: f.id,
          problem: 'counted rating has no stored record (the rating was deleted)',
          stored: `level ${f.level}`,
          expected: 'no fact',
        });
    } else if (f.channel === 'default' || f.channel === 'qr') {
      // A default and a rating given on the citizen page (hub/citizen/) are hub-made: checked against what was queued.
      if (f.payload === null)
        add({ table: 'rating_facts', key: f.id, problem: `${f.channel} rating has no queued evaluation it came from` });
      else {
        const e = JSON.parse(f.payload) as { level?: number; assessedAt?: number };
        if (e.level !== f.level)
          add({
            table: 'rating_facts',
            key: `${f.id} level`,
            problem: 'level differs from the hub-made default',
            stored: str(f.level),
            expected: str(e.level),
          });
        if (e.assessedAt !== f.at)
          add({
            table: 'rating_facts',
            key: `${f.id} at`,
            problem: 'time differs from the hub-made default',
            stored: str(f.at),
            expected: str(e.assessedAt),
          });
      }
    } else add({ table: 'rating_facts', key: `${f.id} channel`, problem: 'unknown channel', stored: f.channel });
  }
}

/** The forward queue's kept counts (forward_counts, kept by triggers) against a recount of the queue. */
function checkForwardQueueCounts(db: Db, add: Add): void {
  for (const r of checkForwardCounts(db))
    add({
      table: 'forward_counts',
      key: `destination=${r.destination} kind=${r.kind} state=${r.state}`,
      problem: 'count differs from a recount of forward_queue',
      stored: String(r.kept),
      expected: String(r.fresh),
    });
}

function checkRollups(db: Db, add: Add, checked: Checked): void {
  for (const { table, period } of ROLLUPS) {
    const fresh = ROLLUP_KEYS.map(([dim, expr]) => rollupSelect(dim, expr, period)).join(' UNION ALL ');
    // Every count the statistics rebuild computes (n1..n5, invalid, and whatever later features add).
    const countCols = db
      .prepare(fresh)
      .columns()
      .map((c) => c.name)
      .filter((c) => c !== 'dim' && c !== 'period' && c !== 'key');
    const cols = countCols.map((c) => `k.${c} AS k_${c}, f.${c} AS f_${c}`).join(', ');
    const sql = `WITH fresh AS (${fresh}), kept AS (SELECT dim, ${period} AS period, key, ${countCols.join(', ')} FROM ${table})
      SELECT k.dim, k.period, k.key, ${cols} FROM kept k LEFT JOIN fresh f ON f.dim = k.dim AND f.period = k.period AND f.key = k.key
      UNION ALL
      SELECT f.dim, f.period, f.key, ${cols} FROM fresh f LEFT JOIN kept k ON k.dim = f.dim AND k.period = f.period AND k.key = f.key WHERE k.dim IS NULL`;
    for (const r of db.prepare<[], Record<string, number | string | null>>(sql).iterate()) {
      checked.rollupRows++;
      const diff: string[] = [];
      const want: string[] = [];
      for (const c of countCols) {
        const kept = (r[`k_${c}`] as number | null) ?? 0;
        const now = (r[`f_${c}`] as number | null) ?? 0;
        if (kept !== now) {
          diff.push(`${c}=${kept}`);
          want.push(`${c}=${now}`);
        }
      }
      if (diff.length === 0) continue;
      const p =
        period === 'day'
          ? dayFromNumber(r.period as number)
          : `${Math.floor((r.period as number) / 12)}-${String(((r.period as number) % 12) + 1).padStart(2, '0')}`;
      add({
        table,
        key: `dim=${r.dim} ${period}=${p} key=${JSON.stringify(r.key)}`,
        problem: 'counts differ from a recount of rating_facts',
        stored: diff.join(' '),
        expected: want.join(' '),
      });
    }
  }
}

/** A table chained like audit_log: every row's prev_hash is the stored hash of the row before it. */
function checkHashChain(
  db: Db,
  table: 'audit_log' | 'work_order_events',
  add: Add,
  checked: Checked,
  fields: (r: Record<string, unknown>) => Record<string, unknown>,
): void {
  let prev = GENESIS_HASH;
  let prevN = 0;
  for (const r of db
    .prepare<[], Record<string, unknown> & { n: number; prev_hash: string; hash: string }>(`SELECT * FROM ${table} ORDER BY n`)
    .iterate()) {
    if (table === 'audit_log') checked.auditRows++;
    else checked.workOrderEvents++;
    if (r.prev_hash !== prev)
      add({
        table,
        key: `n=${r.n}`,
        problem:
          r.n !== prevN + 1
            ? `does not follow on the row before it (rows ${prevN + 1}–${r.n - 1} deleted?)`
            : 'prev_hash does not name the row before it',
        stored: r.prev_hash,
        expected: prev,
      });
    const h = chainHash(r.prev_hash, fields(r));
    if (h !== r.hash) add({ table, key: `n=${r.n}`, problem: 'content does not match its hash (edited)', stored: r.hash, expected: h });
    prev = r.hash;
    prevN = r.n;
  }
}

function checkWorkOrders(db: Db, add: Add, checked: Checked): void {
  const rows = db
    .prepare<
      [],
      {
        id: number;
        rating_id: string;
        state: string;
        version: number;
        level: number;
        ev_n: number;
        ev_max: number | null;
        ev_state: string | null;
        f_level: number | null;
        has_fact: number | null;
      }
    >(
      `SELECT w.id, w.rating_id, w.state, w.version, w.level,
         (SELECT count(*) FROM work_order_events e WHERE e.order_id = w.id) AS ev_n,
         (SELECT max(version) FROM work_order_events e WHERE e.order_id = w.id) AS ev_max,
         (SELECT to_state FROM work_order_events e WHERE e.order_id = w.id ORDER BY version DESC LIMIT 1) AS ev_state,
         f.level AS f_level, f.id IS NOT NULL AS has_fact
       FROM work_orders w LEFT JOIN rating_facts f ON f.id = w.rating_id`,
    )
    .iterate();
  for (const w of rows) {
    checked.workOrders++;
    const key = `${w.id} (rating ${w.rating_id})`;
    if (w.ev_max !== w.version)
      add({
        table: 'work_orders',
        key: `${key} version`,
        problem: 'version is not the last version in its trail',
        stored: String(w.version),
        expected: str(w.ev_max),
      });
    else if (w.ev_state !== w.state)
      add({
        table: 'work_orders',
        key: `${key} state`,
        problem: 'state is not the state its trail ends in',
        stored: w.state,
        expected: str(w.ev_state),
      });
    if (w.ev_max !== null && w.ev_n !== w.ev_max)
      add({
        table: 'work_order_events',
        key: `order ${w.id}`,
        problem: 'trail has versions missing',
        stored: `${w.ev_n} events`,
        expected: `${w.ev_max} events`,
      });
    if (!w.has_fact) add({ table: 'work_orders', key, problem: 'order for a rating that is not in the statistics' });
    else if (w.f_level !== w.level)
      add({
        table: 'work_orders',
        key: `${key} level`,
        problem: 'level differs from its rating',
        stored: String(w.level),
        expected: str(w.f_level),
      });
  }
}

function checkCheckpoints(db: Db, add: Add, checked: Checked, hubKey: KeyObject | null): void {
  const hall = (db.prepare<[], { hall: string }>('SELECT hall FROM devices LIMIT 1').get()?.hall ?? null) as string | null;
  let prevBody: string | null = null;
  let prevDay: number | null = null;
  for (const c of db
    .prepare<[], { day: number; body: string; sig: string }>('SELECT day, body, sig FROM ledger_checkpoints ORDER BY day')
    .iterate()) {
    checked.checkpoints++;
    const key = `day ${dayFromNumber(c.day)}`;
    if (hubKey && !checkpointSignatureOk(c, hubKey))
      add({ table: 'ledger_checkpoints', key, problem: "not signed by this hub's key (edited or replaced)" });
    if (prevDay !== null && c.day !== prevDay + 1)
      add({
        table: 'ledger_checkpoints',
        key,
        problem: `checkpoints of ${dayFromNumber(prevDay + 1)}–${dayFromNumber(c.day - 1)} are missing (deleted?)`,
      });
    let kept: DayDigest;
    try {
      kept = JSON.parse(c.body) as DayDigest;
    } catch {
      add({ table: 'ledger_checkpoints', key, problem: 'body is not JSON' });
      continue;
    }
    const prevHash = prevBody === null ? GENESIS_HASH : checkpointHash(prevBody);
    const now = computeDayDigest(db, kept.hall ?? hall ?? '', c.day, prevHash);
    for (const [field, a, b] of digestDifferences(kept, now)) {
      add({
        table: 'ledger_checkpoints',
        key: `${key} ${field}`,
        problem: 'the records of that day no longer match its signed checkpoint (changed after it was made)',
        stored: b,
        expected: a,
      });
    }
    prevBody = c.body;
    prevDay = c.day;
  }
}

/** The hub public key from a PEM or base64 SPKI string. */
export function parsePublicKey(text: string): KeyObject {
  const t = text.trim();
  if (t.includes('PRIVATE KEY')) return createPublicKey(t);
  if (t.startsWith('-----')) return createPublicKey(t);
  return importPublicKey(t);
}
