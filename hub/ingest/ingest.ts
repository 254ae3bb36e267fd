/**
 * Ingest: every rating message from a device passes here. It is decoded, checked against the
 * device's registered key and hash chain, and stored idempotently by record id. Records that
 * arrive together share one transaction (group commit); each device's `ack` is published only
 * after that transaction committed. The broker's PUBACK is not storage — this ack is.
 */
import type { Logger } from 'pino';
import { decode, parseTopic, recordHash, verifyRecord, type Ack, type RatingRecord } from '../../protocol/index.js';
import { evaluationFromRecord } from '../forwarder/evaluation.js';
import { enqueueEvaluation } from '../forwarder/forwarder.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { Db } from '../store/db.js';

export type RejectReason =
  | 'oversized'
  | 'malformed'
  | 'unknown-version'
  | 'invalid'
  | 'bad-signature'
  | 'topic-mismatch'
  | 'unknown-device'
  | 'wrong-topic'
  | 'duplicate'
  | 'id-conflict'
  | 'seq-reused'
  | 'chain-broken';

/** Reasons the device is told about: the record will never be stored, so it must stop resending. */
const FINAL_REJECTS = new Set<RejectReason>(['bad-signature', 'id-conflict', 'seq-reused', 'chain-broken']);

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
}

interface Pending {
  record: RatingRecord;
  receivedAt: number;
  t0: bigint;
}

export class Ingest {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly stmts;

  constructor(private readonly o: IngestOptions) {
    this.now = o.now ?? Date.now;
    const db = o.db;
    this.stmts = {
      byId: db.prepare<[string], { hash: string; device: string; seq: number }>('SELECT hash, device, seq FROM ratings WHERE id = ?'),
      bySeq: db.prepare<[string, number], { id: string; hash: string; body: string }>('SELECT id, hash, body FROM ratings WHERE device = ? AND seq = ?'),
      head: db.prepare<[string], { chain_seq: number; chain_hash: string }>('SELECT chain_seq, chain_hash FROM devices WHERE id = ?'),
      setHead: db.prepare('UPDATE devices SET chain_seq = ?, chain_hash = ? WHERE id = ?'),
      insert: db.prepare(`INSERT INTO ratings (id, device, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body)
        VALUES (@id, @device, @seq, @hall, @window, @staffId, @kind, @level, @reasons, @sessionId, @flags, @at, @clockSynced, @receivedAt, @hash, @body)`),
      gap: db.prepare('INSERT OR IGNORE INTO gaps (device, from_seq, to_seq, detected_at) VALUES (?, ?, ?, ?)'),
      gapAt: db.prepare<[string, number, number], { from_seq: number; to_seq: number }>('SELECT from_seq, to_seq FROM gaps WHERE device = ? AND from_seq <= ? AND to_seq >= ?'),
      delGap: db.prepare('DELETE FROM gaps WHERE device = ? AND from_seq = ?'),
      rejection: db.prepare('INSERT INTO rejections (at, device, reason, record_id, seq, detail) VALUES (?, ?, ?, ?, ?, ?)'),
    };
  }

  /** Takes one message published on a rating topic by `clientId`. Never throws. */
  submit(clientId: string | null, topicName: string, payload: Buffer): void {
    try {
      const addr = parseTopic(topicName);
      if (!addr || addr.kind !== 'rating') return this.reject('wrong-topic', clientId, `not a rating topic: ${topicName.slice(0, 200)}`);
      const d = decode('rating', payload);
      if (!d.ok) return this.reject(d.error.code, addr.device, d.error.message);
      const r = d.value;
      if (r.hall !== addr.hall || r.device !== addr.device || (clientId !== null && clientId !== addr.device)) {
        return this.reject('topic-mismatch', addr.device, `record for ${r.hall}/${r.device} came on ${topicName} from client ${clientId}`, r);
      }
      if (r.hall !== this.o.registry.hall) return this.reject('unknown-device', r.device, `record is for hall ${r.hall}, this hub is ${this.o.registry.hall}`, r);
      const key = this.o.registry.publicKey(r.device);
      if (!key) return this.reject('unknown-device', r.device, `device ${r.device} is not enrolled here or is revoked`, r);
      const v = verifyRecord(r, key);
      if (!v.ok) return this.reject('bad-signature', r.device, v.error.message, r, true);
      this.queue.push({ record: r, receivedAt: this.now(), t0: process.hrtime.bigint() });
      this.schedule();
    } catch (e) {
      // A bug must not take the broker down; the device will resend.
      this.o.log.error({ err: e, clientId }, 'ingest failed on a message');
    }
  }

  private schedule(): void {
    if (this.queue.length >= (this.o.maxBatch ?? 500)) return void this.flush();
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.o.lingerMs ?? 2);
  }

  private reject(reason: RejectReason, device: string | null, detail: string, record?: RatingRecord, tellDevice = false): void {
    this.o.metrics.rejected.inc({ reason });
    // A duplicate is routine after a lost ack (the device resends); anything else is not.
    this.o.log[reason === 'duplicate' ? 'info' : 'warn']({ device, reason, seq: record?.seq, id: record?.id }, `rejected rating: ${detail}`);
    try {
      this.stmts.rejection.run(this.now(), device, reason, record?.id ?? null, record?.seq ?? null, detail.slice(0, 500));
    } catch (e) {
      this.o.log.error({ err: e }, 'could not log a rejection');
    }
    if (tellDevice && record && FINAL_REJECTS.has(reason)) {
      this.o.publishAck(record.hall, record.device, { v: 1, acks: [], rejects: [{ seq: record.seq, id: record.id, reason }] });
    }
  }

  /** Commits everything queued in one transaction, then acks. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const acks = new Map<string, Ack>();
    const rejects: { p: Pending; reason: RejectReason; detail: string }[] = [];
    const stored: RatingRecord[] = [];
    const ackFor = (r: RatingRecord) => {
      const k = `${r.hall}/${r.device}`;
      let a = acks.get(k);
      if (!a) acks.set(k, (a = { v: 1, acks: [], rejects: [] }));
      return a;
    };
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
      })();
    } catch (e) {
      // Nothing was committed, nothing is acked: the devices will resend.
      this.o.log.error({ err: e, records: batch.length }, 'group commit failed; records not acknowledged');
      return;
    }
    this.o.metrics.batchSize.observe(batch.length);
    for (const r of stored) this.o.metrics.stored.inc({ kind: r.kind, level: String(r.level ?? 'none') });
    for (const { p, reason, detail } of rejects) {
      this.reject(reason, p.record.device, detail, p.record);
      if (reason !== 'duplicate') ackFor(p.record).rejects.push({ seq: p.record.seq, id: p.record.id, reason });
    }
    for (const ack of acks.values()) {
      const first = ack.acks[0] ?? ack.rejects[0];
      const rec = batch.find((p) => p.record.seq === first?.seq && p.record.id === first.id)!.record;
      this.o.publishAck(rec.hall, rec.device, ack);
    }
    const t1 = process.hrtime.bigint();
    for (const p of batch) this.o.metrics.ackLatency.observe(Number(t1 - p.t0) / 1e9);
    if (stored.length) this.o.onStored?.(stored);
  }

  private storeOne(p: Pending): 'stored' | 'duplicate' | { reason: RejectReason; detail: string } {
    const r = p.record;
    const hash = recordHash(r);
    const existing = this.stmts.byId.get(r.id);
    if (existing) {
      if (existing.hash === hash) return 'duplicate';
      return { reason: 'id-conflict', detail: `record id ${r.id} is already stored with other content` };
    }
    const sameSeq = this.stmts.bySeq.get(r.device, r.seq);
    if (sameSeq) return { reason: 'seq-reused', detail: `seq ${r.seq} of ${r.device} is already stored as record ${sameSeq.id}: a replay or a forked chain` };
    const head = this.stmts.head.get(r.device)!;
    if (r.seq === head.chain_seq + 1) {
      if (r.prev !== head.chain_hash) return { reason: 'chain-broken', detail: `seq ${r.seq} does not follow on seq ${head.chain_seq}: prev hash differs` };
      this.stmts.setHead.run(r.seq, hash, r.device);
    } else if (r.seq > head.chain_seq + 1) {
      // Records before this one are missing (yet): remember the gap; they may still arrive.
      this.stmts.gap.run(r.device, head.chain_seq + 1, r.seq - 1, p.receivedAt);
      this.o.metrics.gaps.inc();
      this.o.log.warn({ device: r.device, from: head.chain_seq + 1, to: r.seq - 1 }, 'sequence gap');
      this.stmts.setHead.run(r.seq, hash, r.device);
    } else {
      // Fills a gap: it must link to its stored neighbours on both sides.
      const gap = this.stmts.gapAt.get(r.device, r.seq, r.seq);
      if (!gap) return { reason: 'seq-reused', detail: `seq ${r.seq} is behind the chain head ${head.chain_seq} and not in a known gap` };
      const before = this.stmts.bySeq.get(r.device, r.seq - 1);
      const after = this.stmts.bySeq.get(r.device, r.seq + 1);
      if ((before && before.hash !== r.prev) || (after && (JSON.parse(after.body) as RatingRecord).prev !== hash)) {
        return { reason: 'chain-broken', detail: `seq ${r.seq} does not link to its stored neighbours` };
      }
      this.stmts.delGap.run(r.device, gap.from_seq);
      if (gap.from_seq < r.seq) this.stmts.gap.run(r.device, gap.from_seq, r.seq - 1, p.receivedAt);
      if (gap.to_seq > r.seq) this.stmts.gap.run(r.device, r.seq + 1, gap.to_seq, p.receivedAt);
    }
    this.stmts.insert.run({
      id: r.id,
      device: r.device,
      seq: r.seq,
      hall: r.hall,
      window: r.window,
      staffId: r.staffId,
      kind: r.kind,
      level: r.level,
      reasons: JSON.stringify(r.reasons),
      sessionId: r.session?.id ?? null,
      flags: JSON.stringify(r.flags),
      at: r.at,
      clockSynced: r.clockSynced ? 1 : 0,
      receivedAt: p.receivedAt,
      hash,
      body: JSON.stringify(r),
    });
    if (r.kind === 'rating') enqueueEvaluation(this.o.db, evaluationFromRecord(r, p.receivedAt), p.receivedAt);
    return 'stored';
  }

  close(): void {
    this.flush();
  }
}
