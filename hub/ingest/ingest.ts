/**
 * Ingest: every rating message from a device passes here. It is decoded, checked against the
 * device's registered key and hash chain, and stored idempotently by record id. Records that
 * arrive together share one transaction (group commit); each device's `ack` is published only
 * after that transaction committed. The broker's PUBACK is not storage — this ack is.
 */
import type { Logger } from 'pino';
import { decode, MAX_BYTES, parseTopic, verifyRecord, type Ack, type RatingRecord } from '../../protocol/index.js';
import type { Alarms } from '../alarms/alarms.js';
import { evaluationFromRecord } from '../forwarder/evaluation.js';
import { enqueueEvaluation } from '../forwarder/forwarder.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { Db } from '../store/db.js';
import { Attributor, type Attribution, type AttributionAlarm, type RateCap } from './attribution.js';
import { checkRating, type Checked, type RejectReason } from './check.js';
import { VerifyPool, type VerifyJob } from './verify-pool.js';

export type { RejectReason } from './check.js';

/** Reasons the device is told about: the record will never be stored, so it must stop resending. */
const FINAL_REJECTS = new Set<RejectReason>(['bad-signature', 'id-conflict', 'seq-reused', 'chain-broken', 'oversized']);

/** The largest rating payload ingest reads to name a refused record to its device (the broker's packet cap is 64 KiB). */
const READ_REFUSED_MAX_BYTES = 64 * 1024;

export interface IngestOptions {
  db: Db;
  registry: Registry;
  log: Logger;
  metrics: Metrics;
  publishAck: (hall: string, device: string, ack: Ack) => void;
  /** Wait this long for more records before committing (0: next tick). */
  lingerMs?: number;
  maxBatch?: number;
  now?: () => number;
  /** Called after each commit with the records stored in it. */
  onStored?: (records: RatingRecord[]) => void;
  /**
   * Decides what a newly stored record sends to the province, inside the transaction that
   * stores it (so the record and its evaluation commit together), with the hub's attribution
   * (window, staff, session: never the device's claims). Default: every rating is forwarded;
   * not-rated reports are not forwarded.
   */
  forward?: (record: RatingRecord, receivedAt: number, attribution: Attribution) => void;
  alarms?: Alarms;
  /** Per-device cap on ratings per time of its press clock (records over it are flagged, kept). */
  rateCap?: RateCap;
  /**
   * Check signatures on this many worker threads (verify-pool.ts); 0 (the default): on this
   * thread, synchronously within `submit`.
   */
  verifyWorkers?: number;
}

interface Pending {
  record: RatingRecord;
  /** The record's hash, taken when it was checked. */
  hash: string;
  epoch: number;
  receivedAt: number;
  t0: bigint;
}

/** A message taken in and being checked: messages leave for the store in the order they came. */
interface Arrival {
  epoch: number;
  receivedAt: number;
  t0: bigint;
  result: Checked | null;
}

/** Forwards every rating as it is (no session policy). */
export function forwardEveryRating(db: Db): (r: RatingRecord, receivedAt: number, a: Attribution) => void {
  return (r, receivedAt, a) => {
    if (r.kind === 'rating') enqueueEvaluation(db, evaluationFromRecord(r, receivedAt, null, a), receivedAt);
  };
}

export class Ingest {
  private queue: Pending[] = [];
  /** Messages taken in, in arrival order; the first `head` are done. */
  private arrivals: Arrival[] = [];
  private head = 0;
  private readonly pool: VerifyPool | null;
  /** Jobs for the pool gathered in this turn of the event loop, sent together. */
  private jobs: { job: VerifyJob; arrival: Arrival }[] = [];
  private dispatching = false;
  private closed = false;
  private rejectionRows: [
    at: number,
    device: string | null,
    reason: string,
    recordId: string | null,
    seq: number | null,
    detail: string,
  ][] = [];
  private timer: NodeJS.Timeout | null = null;
  /** The next full batch's commit, in the check phase of this turn of the event loop. */
  private immediate: NodeJS.Immediate | null = null;
  private readonly now: () => number;
  private readonly stmts;
  private readonly forward: (record: RatingRecord, receivedAt: number, attribution: Attribution) => void;
  private readonly attributor: Attributor;
  /** Attribution alarms of the current batch, raised once it committed. */
  private attributionAlarms: AttributionAlarm[] = [];
  /** Devices whose gaps changed in the current batch (their missing-records gauge is refreshed). */
  private gapsTouched = new Set<string>();
  /** Gaps found in the current batch, raised as alarms once it committed. */
  private gapAlarms: { device: string; from: number; to: number; epoch: number }[] = [];

  constructor(private readonly o: IngestOptions) {
    this.now = o.now ?? Date.now;
    this.forward = o.forward ?? forwardEveryRating(o.db);
    this.attributor = new Attributor(o.db, o.rateCap);
    const db = o.db;
    this.stmts = {
      byId: db.prepare<[string], { hash: string; device: string; seq: number }>('SELECT hash, device, seq FROM ratings WHERE id = ?'),
      bySeq: db.prepare<[string, number, number], { id: string; hash: string; body: string }>(
        'SELECT id, hash, body FROM ratings WHERE device = ? AND epoch = ? AND seq = ?',
      ),
      head: db.prepare<[string], { chain_seq: number; chain_hash: string; key_epoch: number }>(
        'SELECT chain_seq, chain_hash, key_epoch FROM devices WHERE id = ?',
      ),
      setHead: db.prepare('UPDATE devices SET chain_seq = ?, chain_hash = ? WHERE id = ?'),
      insert:
        db.prepare(`INSERT INTO ratings (id, device, epoch, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body, attribution)
        VALUES (@id, @device, @epoch, @seq, @hall, @window, @staffId, @kind, @level, @reasons, @sessionId, @flags, @at, @clockSynced, @receivedAt, @hash, @body, @attribution)`),
      gap: db.prepare('INSERT OR IGNORE INTO gaps (device, epoch, from_seq, to_seq, detected_at) VALUES (?, ?, ?, ?, ?)'),
      gapAt: db.prepare<[string, number, number, number], { from_seq: number; to_seq: number }>(
        'SELECT from_seq, to_seq FROM gaps WHERE device = ? AND epoch = ? AND from_seq <= ? AND to_seq >= ?',
      ),
      delGap: db.prepare('DELETE FROM gaps WHERE device = ? AND epoch = ? AND from_seq = ?'),
      missing: db.prepare<[string], { n: number | null }>('SELECT sum(to_seq - from_seq + 1) AS n FROM gaps WHERE device = ?'),
      allMissing: db.prepare<[], { device: string; n: number }>('SELECT device, sum(to_seq - from_seq + 1) AS n FROM gaps GROUP BY device'),
      rejection: db.prepare('INSERT INTO rejections (at, device, reason, record_id, seq, detail) VALUES (?, ?, ?, ?, ?, ?)'),
    };
    for (const r of this.stmts.allMissing.all()) o.metrics.missing.set({ device: r.device }, r.n);
    this.pool = VerifyPool.open({ size: o.verifyWorkers ?? 0, hall: o.registry.hall, log: o.log });
  }

  /**
   * Records that arrived and are not yet committed (being checked, or waiting for the group
   * commit): while there are, the hall page's catch-up waits (hub/facts/fact-sync.ts).
   */
  get waiting(): number {
    return this.arrivals.length - this.head + this.queue.length;
  }

  /** A full batch or more waits: devices deliver faster than the hub stores (the forwarder gives way). */
  get backlogged(): boolean {
    return this.waiting >= this.maxBatch;
  }

  /** Worker threads checking signatures (0: on this thread). */
  get verifyWorkers(): number {
    return this.pool?.size ?? 0;
  }

  /** Verification workers that died and were replaced since the start. */
  get verifyWorkerRestarts(): number {
    return this.pool?.restarts ?? 0;
  }

  /** For tests: ends a verification worker the way a crash would. */
  crashVerifyWorker(): Promise<number> {
    if (!this.pool) throw new Error('no verification workers');
    return this.pool.crashOne();
  }

  /**
   * A rating message the broker refused before it reached ingest (another device's topic,
   * oversized, over the rate limit): counted and logged like any other rejection.
   */
  refuse(reason: RejectReason, device: string | null, detail: string, payload?: Buffer): void {
    if (reason === 'oversized' && payload && device) {
      const record = this.readRefused(device, payload);
      if (record) {
        const r = record;
        // Told to the device (final): it keeps the record, stops resending it and shows a fault.
        this.o.alarms?.raise(
          'record-refused',
          device,
          `${device} sent record seq ${r.seq} of ${payload.length} bytes, over the protocol's ${MAX_BYTES.rating}-byte limit: refused; the device keeps it${r.session ? ` (session ${r.session.id})` : ''}`,
          { seq: r.seq, id: r.id, bytes: payload.length, limit: MAX_BYTES.rating, session: r.session?.id ?? null, level: r.level },
        );
        return this.reject(reason, device, detail, r, true);
      }
    }
    this.reject(reason, device, detail);
  }

  /** An oversized payload that is its device's validly signed record, or null. */
  private readRefused(device: string, payload: Buffer): RatingRecord | null {
    const d = decode('rating', payload, { maxBytes: READ_REFUSED_MAX_BYTES });
    if (!d.ok || d.value.device !== device || d.value.hall !== this.o.registry.hall) return null;
    const signer = this.o.registry.signingKey(device);
    return signer && verifyRecord(d.value, signer.key).ok ? d.value : null;
  }

  /**
   * Takes one message published on a rating topic by `clientId`. Never throws. With
   * verification workers the checks finish later; records still reach the store (and their
   * acks) in the order their messages arrived, so a device's chain is never seen out of order.
   */
  submit(clientId: string | null, topicName: string, payload: Buffer): void {
    try {
      const addr = parseTopic(topicName);
      if (!addr || addr.kind !== 'rating') return this.reject('wrong-topic', clientId, `not a rating topic: ${topicName.slice(0, 200)}`);
      const signer = this.o.registry.signingKey(addr.device);
      const arrival: Arrival = { epoch: signer?.epoch ?? 0, receivedAt: this.now(), t0: process.hrtime.bigint(), result: null };
      this.arrivals.push(arrival);
      if (!this.pool) {
        arrival.result = checkRating({ addr, topic: topicName, clientId, payload, hall: this.o.registry.hall, key: signer?.key });
        return this.takeChecked();
      }
      const job: VerifyJob = { addr, topic: topicName, clientId, payload: payload.toString('utf8'), key: signer?.spki ?? null };
      this.jobs.push({ job, arrival });
      if (!this.dispatching) {
        this.dispatching = true;
        // Every message that arrived in this turn of the event loop goes to the workers as one batch.
        setImmediate(() => this.dispatch());
      }
    } catch (e) {
      // A bug must not take the broker down; the device will resend.
      this.o.log.error({ err: e, clientId }, 'ingest failed on a message');
    }
  }

  private dispatch(): void {
    this.dispatching = false;
    const jobs = this.jobs;
    this.jobs = [];
    if (!this.pool) return;
    // Spread over the workers in slices, so one turn's messages are checked in parallel.
    const slice = Math.max(16, Math.ceil(jobs.length / this.pool.size));
    for (let i = 0; i < jobs.length; i += slice) {
      const part = jobs.slice(i, i + slice);
      this.pool.check(
        part.map((p) => p.job),
        (results) => {
          part.forEach((p, k) => (p.arrival.result = results[k]!));
          this.takeChecked();
        },
      );
    }
  }

  /** Moves checked messages, oldest first, to the group commit (or refuses them); stops at the first still being checked. */
  private takeChecked(): void {
    if (this.closed) return;
    while (this.head < this.arrivals.length) {
      const a = this.arrivals[this.head]!;
      const c = a.result;
      if (!c) break;
      this.head++;
      try {
        if (c.ok) {
          this.queue.push({ record: c.record, hash: c.hash, epoch: a.epoch, receivedAt: a.receivedAt, t0: a.t0 });
          this.schedule();
        } else this.refuseChecked(c);
      } catch (e) {
        this.o.log.error({ err: e }, 'ingest failed on a message');
      }
    }
    if (this.head === this.arrivals.length) {
      this.arrivals = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.arrivals = this.arrivals.slice(this.head);
      this.head = 0;
    }
  }

  private refuseChecked(c: Extract<Checked, { ok: false }>): void {
    const r = c.record;
    if (c.reason === 'bad-signature' && r) {
      this.o.alarms?.raise(
        'bad-signature',
        r.device,
        `a record on ${r.device}'s topic does not carry its signature: altered, forged, or signed with another key`,
        { seq: r.seq, id: r.id },
      );
      return this.reject('bad-signature', r.device, c.detail, r, true);
    }
    this.reject(c.reason, c.device, c.detail, r);
  }

  private get maxBatch(): number {
    return this.o.maxBatch ?? 500;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxBatch) {
      // A full batch commits in this turn's check phase, never inside the callback that took it
      // in, and one batch per turn of the event loop: however many checked records wait (a
      // verification worker answers faster than the store commits), the sockets are read between
      // two commits — a device's CONNECT, keep-alives and acks are not stuck behind a backlog.
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.flush();
      });
      return;
    }
    if (this.timer || this.immediate) return;
    this.timer = setTimeout(() => this.flush(), this.o.lingerMs ?? 2);
  }

  /**
   * Counts, logs and remembers a refused message. The rejections row is written with the next
   * group commit, not on its own: a flood of garbage must not cost the hub one fsync per message.
   */
  private reject(reason: RejectReason, device: string | null, detail: string, record?: RatingRecord, tellDevice = false): void {
    this.note(reason, device, detail, record);
    // Bounded while commits fail (disk full): the metric and the log line still count every one.
    if (this.rejectionRows.length < 10_000)
      this.rejectionRows.push([this.now(), device, reason, record?.id ?? null, record?.seq ?? null, detail.slice(0, 500)]);
    this.schedule();
    if (tellDevice && record && FINAL_REJECTS.has(reason)) {
      this.o.publishAck(record.hall, record.device, { v: 1, acks: [], rejects: [{ seq: record.seq, id: record.id, reason }] });
    }
  }

  private note(reason: RejectReason, device: string | null, detail: string, record?: RatingRecord): void {
    this.o.metrics.rejected.inc({ reason });
    // A duplicate is routine after a lost ack (the device resends); anything else is not.
    this.o.log[reason === 'duplicate' ? 'info' : 'warn'](
      { device, reason, seq: record?.seq, id: record?.id },
      `rejected rating: ${detail}`,
    );
  }

  /** Commits the oldest checked records, at most one batch (`maxBatch`); what is left commits in a later turn. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length) this.schedule();
    if (batch.length === 0 && this.rejectionRows.length === 0) return;
    const acks = new Map<string, { hall: string; device: string; ack: Ack }>();
    const rejects: { p: Pending; reason: RejectReason; detail: string }[] = [];
    const stored: RatingRecord[] = [];
    const ackFor = (r: RatingRecord) => {
      const k = `${r.hall}/${r.device}`;
      let a = acks.get(k);
      if (!a) acks.set(k, (a = { hall: r.hall, device: r.device, ack: { v: 1, acks: [], rejects: [] } }));
      return a.ack;
    };
    const commitStart = performance.now();
    try {
      this.o.db.transaction(() => {
        for (const p of batch) {
          const outcome = this.storeOne(p);
          if (outcome === 'stored') {
            stored.push(p.record);
            ackFor(p.record).acks.push({ seq: p.record.seq, id: p.record.id });
          } else if (outcome === 'duplicate') {
            ackFor(p.record).acks.push({ seq: p.record.seq, id: p.record.id });
            rejects.push({ p, reason: 'duplicate', detail: 'already stored; acknowledged again' });
          } else {
            rejects.push({ p, reason: outcome.reason, detail: outcome.detail });
          }
        }
        for (const row of this.rejectionRows) this.stmts.rejection.run(...row);
        for (const { p, reason, detail } of rejects)
          this.stmts.rejection.run(p.receivedAt, p.record.device, reason, p.record.id, p.record.seq, detail.slice(0, 500));
      })();
      this.rejectionRows = [];
      this.o.metrics.commitSeconds.observe((performance.now() - commitStart) / 1000);
    } catch (e) {
      this.gapAlarms = [];
      this.attributionAlarms = [];
      // Nothing was committed, nothing is acked: the devices will resend.
      this.o.log.error({ err: e, records: batch.length }, 'group commit failed; records not acknowledged');
      return;
    }
    if (batch.length === 0) return;
    this.o.metrics.batchSize.observe(batch.length);
    for (const r of stored) this.o.metrics.stored.inc({ kind: r.kind, level: String(r.level ?? 'none') });
    for (const { p, reason, detail } of rejects) {
      if (reason === 'seq-reused' || reason === 'chain-broken' || reason === 'id-conflict') {
        const kind = reason === 'id-conflict' ? 'id-conflict' : 'chain-fork';
        this.o.alarms?.raise(
          kind,
          p.record.device,
          `${p.record.device} sent a validly signed record that contradicts its stored chain (${reason}): a cloned device or a restored outbox`,
          { seq: p.record.seq, id: p.record.id, epoch: p.epoch },
        );
      }
      this.note(reason, p.record.device, detail, p.record);
      if (reason !== 'duplicate') ackFor(p.record).rejects.push({ seq: p.record.seq, id: p.record.id, reason });
    }
    for (const a of acks.values()) this.o.publishAck(a.hall, a.device, a.ack);
    const t1 = process.hrtime.bigint();
    for (const p of batch) this.o.metrics.ackLatency.observe(Number(t1 - p.t0) / 1e9);
    for (const device of this.gapsTouched) this.o.metrics.missing.set({ device }, this.stmts.missing.get(device)?.n ?? 0);
    this.gapsTouched.clear();
    for (const g of this.gapAlarms)
      this.o.alarms?.raise('sequence-gap', g.device, `records ${g.from}–${g.to} of ${g.device} are missing`, g);
    this.gapAlarms = [];
    // One alarm per device and kind per group commit: a forger's burst must not cost the hub one
    // alarm write (and fsync) per record; the alarm counts them and names the first.
    const grouped = new Map<string, AttributionAlarm[]>();
    for (const a of this.attributionAlarms) {
      const k = `${a.kind}\u0000${a.device}`;
      const g = grouped.get(k);
      if (g) g.push(a);
      else grouped.set(k, [a]);
    }
    for (const [first, ...more] of grouped.values()) {
      const a = first!;
      this.o.alarms?.raise(
        a.kind,
        a.device,
        more.length ? `${a.message} (and ${more.length} more such records in the same batch)` : a.message,
        more.length ? { ...a.detail, records: 1 + more.length } : a.detail,
      );
    }
    this.attributionAlarms = [];
    if (stored.length) this.o.onStored?.(stored);
  }

  private storeOne(p: Pending): 'stored' | 'duplicate' | { reason: RejectReason; detail: string } {
    const r = p.record;
    const hash = p.hash;
    const existing = this.stmts.byId.get(r.id);
    if (existing) {
      if (existing.hash === hash) return 'duplicate';
      return { reason: 'id-conflict', detail: `record id ${r.id} is already stored with other content` };
    }
    const head = this.stmts.head.get(r.device)!;
    // The device was re-enrolled after this record was verified: its chain is gone.
    if (head.key_epoch !== p.epoch)
      return { reason: 'unknown-device', detail: `signed with the key of epoch ${p.epoch}; the device is now in epoch ${head.key_epoch}` };
    const epoch = p.epoch;
    const sameSeq = this.stmts.bySeq.get(r.device, epoch, r.seq);
    if (sameSeq)
      return {
        reason: 'seq-reused',
        detail: `seq ${r.seq} of ${r.device} is already stored as record ${sameSeq.id}: a replay or a forked chain`,
      };
    if (r.seq === head.chain_seq + 1) {
      if (r.prev !== head.chain_hash)
        return { reason: 'chain-broken', detail: `seq ${r.seq} does not follow on seq ${head.chain_seq}: prev hash differs` };
      this.stmts.setHead.run(r.seq, hash, r.device);
    } else if (r.seq > head.chain_seq + 1) {
      // Records before this one are missing (yet): remember the gap; they may still arrive.
      this.stmts.gap.run(r.device, epoch, head.chain_seq + 1, r.seq - 1, p.receivedAt);
      this.o.metrics.gaps.inc();
      this.gapsTouched.add(r.device);
      this.gapAlarms.push({ device: r.device, from: head.chain_seq + 1, to: r.seq - 1, epoch });
      this.stmts.setHead.run(r.seq, hash, r.device);
    } else {
      // Fills a gap: it must link to its stored neighbours on both sides.
      const gap = this.stmts.gapAt.get(r.device, epoch, r.seq, r.seq);
      if (!gap) return { reason: 'seq-reused', detail: `seq ${r.seq} is behind the chain head ${head.chain_seq} and not in a known gap` };
      const before = this.stmts.bySeq.get(r.device, epoch, r.seq - 1);
      const after = this.stmts.bySeq.get(r.device, epoch, r.seq + 1);
      if ((before && before.hash !== r.prev) || (after && (JSON.parse(after.body) as RatingRecord).prev !== hash)) {
        return { reason: 'chain-broken', detail: `seq ${r.seq} does not link to its stored neighbours` };
      }
      this.stmts.delGap.run(r.device, epoch, gap.from_seq);
      if (gap.from_seq < r.seq) this.stmts.gap.run(r.device, epoch, gap.from_seq, r.seq - 1, p.receivedAt);
      if (gap.to_seq > r.seq) this.stmts.gap.run(r.device, epoch, r.seq + 1, gap.to_seq, p.receivedAt);
      this.gapsTouched.add(r.device);
    }
    // Who the record is about comes from the hub, not from the record's claims.
    const a = this.attributor.attribute(r, this.attributionAlarms, p.receivedAt);
    this.stmts.insert.run({
      id: r.id,
      device: r.device,
      epoch,
      seq: r.seq,
      hall: r.hall,
      window: a.window,
      staffId: a.staffId,
      kind: r.kind,
      level: r.level,
      reasons: JSON.stringify(r.reasons),
      sessionId: a.session?.id ?? null,
      flags: JSON.stringify([...r.flags, ...a.flags]),
      attribution: JSON.stringify(a),
      at: r.at,
      clockSynced: r.clockSynced ? 1 : 0,
      receivedAt: p.receivedAt,
      hash,
      body: JSON.stringify(r),
    });
    this.forward(r, p.receivedAt, a);
    return 'stored';
  }

  /** Commits what is checked and queued; messages still being checked are dropped unacknowledged (devices resend). */
  async close(): Promise<void> {
    do this.flush();
    while (this.queue.length);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    [this.timer, this.immediate] = [null, null];
    await this.pool?.close();
  }
}
