/**
 * The forwarder: sends evaluations to the provincial platform from the hub's durable
 * forward_queue, in the province's own format (a profile), and marks one forwarded only when
 * the province said it has it (accepted, or "duplicate": it had it already). Everything else
 * keeps the row: a failed push is retried with backoff, an evaluation the province refuses for
 * good is kept with the province's reason for hall IT to fix and re-push. No path deletes a row.
 *
 * Exactly once at the province rests on the key: every resend carries the same idempotency key
 * (the evaluation id, or one derived per case number), so a push that reached the province but
 * whose answer was lost — a timeout, a dropped connection, the hub killed mid-request — comes
 * back as "duplicate" and is marked done then.
 */
import { performance } from 'node:perf_hooks';
import type { Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';
import { prepared } from '../store/prepared.js';
import type { Evaluation } from './evaluation.js';
import { buildRequestBody, buildRequestBytes, mapEvaluation, type ItemResult, type MappingContext, type WireItem } from './mapping.js';
import { streamOf, type MessageStream, type Stream } from './message-kinds.js';
import { mapMessage, type Destination } from './messages.js';
import { forwarderMetrics, type ForwarderMetrics } from './metrics.js';
import { backoffDelay } from '../../common/backoff.js';
import type { FailureKind, SendOutcome } from './outcome.js';
import { streamView, type Profile } from './profile.js';
import { backlog, storePayload, type BacklogInfo } from './queue.js';
import type { Transport } from './transport/types.js';

/** Puts an evaluation on the forward queue; call inside the transaction that stored its cause. */
export function enqueueEvaluation(db: Db, e: Evaluation, now: number): void {
  // A correction is sent only after the default it replaces, a follow-up after the rating it adds to (after_id).
  const r = prepared(db, 'INSERT INTO forward_queue (id, kind, record_id, enqueued_at, after_id) VALUES (?, ?, ?, ?, ?)').run(
    e.id,
    e.kind,
    e.record?.id ?? null,
    now,
    e.supersedes ?? e.follows ?? null,
  );
  storePayload(db, r.lastInsertRowid, JSON.stringify(e));
}

export interface ForwarderOptions {
  db: Db;
  transport: Transport;
  profile: Profile;
  context: MappingContext;
  log: Logger;
  metrics: Metrics;
  /** Evaluations per push (a batch session may expand to more wire items). */
  batchSize?: number;
  /** After a wake-up with less than a full batch, wait this long for more. */
  lingerMs?: number;
  /** Idle poll interval (also picks up rows re-pushed from another process, e.g. the CLI). */
  pollMs?: number;
  retry?: { baseMs?: number; maxMs?: number };
  /** On stop, how long an in-flight push may still finish before it is abandoned. */
  stopGraceMs?: number;
  /**
   * Whether devices' records pile up at ingest (a hall back from an outage): then the forwarder
   * sends one push per giveWayMs (default 1 s) instead of one after another, so the hub's event
   * loop acknowledges the devices' records first. The queue is durable, and the province gets the
   * backlog at full speed once ingest has caught up; in a full 400 x 2,000 backlog the forwarder
   * took up to half the loop while devices waited for acks.
   */
  ingestBacklogged?: () => boolean;
  giveWayMs?: number;
  now?: () => number;
  random?: () => number;
  /**
   * Which rows of the queue this forwarder sends (default: the province). A second forwarder
   * with `handoff` sends hand-offs to their own destination from the same durable table; it
   * keeps its own metrics (`metrics` should then be a registry of its own).
   */
  destination?: Destination;
}

interface Row {
  /** The row's rowid: a push in flight is left out of the next batch by it, and outcomes are written by it. */
  n: number;
  id: string;
  kind: string;
  /** The queued JSON as UTF-8 bytes (read as a BLOB: the native profile sends it untouched); null if none was stored. */
  payload: Buffer | null;
  attempts: number;
  /** The row this one is sent after (a correction's default, a milestone's evaluation), or null. */
  after_id: string | null;
}

interface Prepared {
  row: Row;
  items: WireItem[];
}

/** One push: rows of one stream, mapped, and the request body built from them. */
interface Batch {
  stream: Stream;
  prepared: Prepared[];
  body: string | Buffer;
}

/**
 * Answers of small pushes are recorded together, up to this many rows or this long after the
 * first: at batch 1 a commit per push cost more than the push's own row. Until then the rows are
 * still pending in the database and are left out of what is read next; a crash before the
 * commit only means a resend the province answers "duplicate".
 */
const RECORD_GROUP_ROWS = 8;
const RECORD_GROUP_MS = 20;

/**
 * While pushes follow one another (the pipeline), due rows are read at least this many at a time,
 * and the pushes after take them in queue order without reading again: at batch 1 a read cost
 * ~40 µs whatever it returned, the largest part of a push's own work. Rows read ahead are still
 * pending in the database. When fewer than a batch are left they are read again with the rest
 * (the read replaces the list, so a batch is always the oldest due rows at its read), and they
 * are forgotten (read again later) when the pipeline stops. A row that becomes due meanwhile (a
 * correction whose default was just recorded, a retry whose backoff ended) waits for the next
 * read: at batch 1 up to 15 pushes. A row read ahead that waits for another (after_id) is looked
 * at again before it is sent: if that one is pending again (re-pushed), everything is read afresh.
 */
const READ_AHEAD_ROWS = 16;

/** One turn of the event loop: lets undici write a request before we go on with synchronous work. */
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface LinkStatus {
  transport: string;
  target: string;
  profile: string;
  state: 'idle' | 'sending' | 'backing-off' | 'stopped';
  consecutiveFailures: number;
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
  lastError: { at: number; kind: FailureKind | 'refused'; message: string } | null;
  /** While backing off: when the next push is due. */
  nextAttemptAt: number | null;
  /** Evaluations per push right now: halved after a failure, doubled back after a success. */
  batchSize: number;
}

type WakeReason = 'kick' | 'force' | 'stop';

export class Forwarder {
  private running = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private waker: { on: Set<WakeReason>; wake: () => void } | null = null;
  private inFlight: AbortController | null = null;
  private gaugeTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly stmts;
  private readonly fm: ForwarderMetrics;
  private readonly maxBatch: number;
  private readonly link: LinkStatus;
  private pausedUntil = 0;
  /** Answered pushes whose outcome is not yet written (RECORD_GROUP_ROWS). */
  private unrecorded: { prepared: Prepared[]; results: Map<string, ItemResult> }[] = [];
  private unrecordedRows = 0;
  private unrecordedTimer: NodeJS.Timeout | null = null;
  /** Due rows read ahead for the pipeline's next pushes, oldest first (READ_AHEAD_ROWS). */
  private ahead: Row[] = [];
  readonly destination: Destination;

  constructor(private readonly o: ForwarderOptions) {
    this.destination = o.destination ?? 'province';
    const dest = this.destination;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.fm = forwarderMetrics(o.metrics.registry);
    this.maxBatch = Math.max(1, Math.min(o.batchSize ?? 200, o.profile.maxBatch ?? Infinity));
    this.link = {
      transport: o.transport.kind,
      target: o.transport.target,
      profile: o.profile.name,
      state: 'stopped',
      consecutiveFailures: 0,
      lastAttemptAt: null,
      lastSuccessAt: null,
      lastError: null,
      nextAttemptAt: null,
      batchSize: this.maxBatch,
    };
    const db = o.db;
    // The payload is read as a BLOB: the native profile sends those bytes as they are.
    const due = (except: string) =>
      `SELECT q.rowid AS n, id, kind, CAST(p.payload AS BLOB) AS payload, attempts, after_id
        FROM forward_queue AS q INDEXED BY forward_queue_by_destination LEFT JOIN forward_payload AS p ON p.n = q.rowid
        WHERE destination = '${dest}' AND state = 'pending' AND next_at <= ?
          AND NOT (after_id IS NOT NULL AND EXISTS (SELECT 1 FROM forward_queue AS s WHERE s.id = q.after_id AND s.state = 'pending'))
          ${except}
        ORDER BY enqueued_at, q.rowid LIMIT ?`;
    this.stmts = {
      // Oldest first through the (destination, state, enqueued_at) index: no sort however long the backlog.
      // A correction waits until the evaluation it replaces is at the province: sent in the other
      // order (after retries, or side by side in one batch) the province could take the default
      // as the last word, or refuse a follow-up to an evaluation it does not have.
      // The same holds for every row with an after_id: a milestone waits for its evaluation and
      // for the milestone before it.
      due: db.prepare<[number, number], Row>(due('')),
      // The same, leaving out the rowids (a JSON array) of a large push still in flight: the next
      // batch is read while it is, and must not hold them again.
      dueExcept: db.prepare<[number, string, number], Row>(due('AND q.rowid NOT IN (SELECT value FROM json_each(?))')),
      // Whether the row another waits for is pending again (re-pushed after a refusal).
      pendingId: db.prepare<[string], number>("SELECT 1 FROM forward_queue WHERE id = ? AND state = 'pending'").pluck(),
      nextDue: db.prepare<[], { t: number | null }>(
        `SELECT min(next_at) AS t FROM forward_queue WHERE destination = '${dest}' AND state = 'pending'`,
      ),
      // Every row a push delivered in one statement: a JSON array of [rowid, reply] pairs. One
      // statement a row cost ~2 µs more a row (bind, step and reset each time; issue 14).
      done: db.prepare<[number, string]>(
        `UPDATE forward_queue SET state = 'done', forwarded_at = ?, reply = a.value ->> 1, last_error = NULL, attempts = attempts + 1
          FROM json_each(?) AS a WHERE forward_queue.rowid = a.value ->> 0 AND forward_queue.state = 'pending'`,
      ),
      rejected: db.prepare(
        "UPDATE forward_queue SET state = 'rejected', rejected_at = ?, reply = ?, last_error = ?, attempts = attempts + 1 WHERE rowid = ? AND state = 'pending'",
      ),
      retry: db.prepare(
        "UPDATE forward_queue SET attempts = attempts + 1, next_at = ?, last_error = ?, reply = coalesce(?, reply) WHERE rowid = ? AND state = 'pending'",
      ),
      retryNow: db.prepare(`UPDATE forward_queue SET next_at = 0 WHERE destination = '${dest}' AND state = 'pending' AND next_at > 0`),
      rejectedCount: db.prepare<[], { n: number }>(
        // Kept by triggers (queue.ts, forward_counts): read every second, never a count of rows.
        `SELECT coalesce(sum(n), 0) AS n FROM forward_counts WHERE destination = '${dest}' AND state = 'rejected'`,
      ),
      synchronous: db.prepare<[], number>('PRAGMA synchronous').pluck(),
      synchronousNormal: db.prepare('PRAGMA synchronous = NORMAL'),
    };
    // Read the backlog when /metrics is scraped, so the figures are never a second old.
    Object.assign(o.metrics.forwardBacklog, { collect: () => this.running && this.updateGauges() });
  }

  backlog(): BacklogInfo {
    return backlog(this.o.db, this.now(), this.destination);
  }

  /** The profile and context evaluations are mapped with (to show hall IT what is sent). */
  mapper(): { profile: Profile; context: MappingContext } {
    return { profile: this.o.profile, context: this.o.context };
  }

  status(): LinkStatus {
    return { ...this.link, nextAttemptAt: this.pausedUntil > this.now() ? this.pausedUntil : null };
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.link.state = 'idle';
    this.updateGauges();
    this.gaugeTimer = setInterval(() => this.updateGauges(), 1000);
    this.gaugeTimer.unref();
    this.loop = this.run().catch((e) => {
      // A bug here must not take the hub down; the queue is intact and a restart resumes it.
      this.o.log.fatal({ err: e }, 'forwarder loop failed; evaluations stay queued');
      this.running = false;
      this.link.state = 'stopped';
    });
  }

  /** New evaluations are waiting: send them soon (does not cut a backoff short). */
  kick(): void {
    this.interrupt('kick');
  }

  /** Hall IT fixed the link: forget backoffs and push now. */
  retryNow(): void {
    this.stmts.retryNow.run();
    this.pausedUntil = 0;
    this.interrupt('force');
  }

  /** Stops sending (an in-flight push gets stopGraceMs to finish) and closes the transport. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    this.interrupt('stop');
    const grace = setTimeout(() => this.inFlight?.abort(), this.o.stopGraceMs ?? 2000);
    await this.loop;
    clearTimeout(grace);
    this.loop = null;
    if (this.gaugeTimer) clearInterval(this.gaugeTimer);
    if (this.o.db.open) this.updateGauges();
    this.link.state = 'stopped';
    await this.o.transport.close();
  }

  /**
   * Writes an outcome without waiting for the disk (synchronous=NORMAL for this one commit).
   * A mark lost to a power cut rolls the row back to pending — never forward — so the worst it
   * costs is a resend the province answers "duplicate". WAL keeps commits in order: any later
   * FULL commit (ingest, defaults) makes these durable too, so nothing can be decided on a mark
   * that is then lost. A process crash loses nothing either way. Without this, batches of one
   * would pay an fsync per evaluation.
   */
  private record(fn: () => void): void {
    const db = this.o.db;
    // Prepared once: at batch 1 a pragma prepared per push costs as much as the mark itself.
    const previous = this.stmts.synchronous.get()!;
    this.stmts.synchronousNormal.run();
    try {
      db.transaction(fn)();
    } finally {
      this.restoreSynchronous(previous);
    }
  }

  private readonly restoreStmts = new Map<number, Statement>();
  private restoreSynchronous(level: number): void {
    let s = this.restoreStmts.get(level);
    if (!s) this.restoreStmts.set(level, (s = this.o.db.prepare(`PRAGMA synchronous = ${Math.trunc(level)}`)));
    s.run();
  }

  private interrupt(reason: WakeReason): void {
    if (this.waker && (reason === 'stop' || this.waker.on.has(reason))) this.waker.wake();
  }

  private sleep(ms: number, wakeOn: WakeReason[]): Promise<void> {
    return new Promise((res) => {
      const done = () => {
        clearTimeout(t);
        this.waker = null;
        res();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.waker = { on: new Set(wakeOn), wake: done };
    });
  }

  private updateGauges(): void {
    try {
      const b = backlog(this.o.db, this.now(), this.destination);
      this.o.metrics.forwardBacklog.set(b.count);
      this.o.metrics.forwardOldestAge.set(b.oldestAgeS ?? 0);
      this.fm.rejected.set(this.stmts.rejectedCount.get()!.n);
    } catch (e) {
      if (this.o.db.open) this.o.log.warn({ err: e }, 'could not read the forward backlog');
    }
  }

  /** When the last push started (the pace while ingest is backlogged). */
  private lastPushAt = -Infinity;

  /** How long to wait before the next push because devices' records pile up at ingest (0: none). */
  private giveWay(now: number): number {
    if (!this.o.ingestBacklogged?.()) return 0;
    return Math.max(0, this.lastPushAt + (this.o.giveWayMs ?? 1000) - now);
  }

  private batchLimit(): number {
    return Math.max(1, Math.min(this.link.batchSize, this.maxBatch));
  }

  private async run(): Promise<void> {
    const linger = this.o.lingerMs ?? 50;
    const poll = this.o.pollMs ?? 1000;
    while (this.running) {
      const now = this.now();
      if (this.pausedUntil > now) {
        this.link.state = 'backing-off';
        await this.sleep(this.pausedUntil - now, ['force']);
        continue;
      }
      const giveWay = this.giveWay(now);
      if (giveWay > 0) {
        await this.sleep(giveWay, ['force']);
        continue;
      }
      let rows = this.stmts.due.all(now, this.batchLimit());
      if (rows.length === 0) {
        this.link.state = 'idle';
        // Nothing due: wake for the next retry, new work (kick), or the poll — not sooner for a
        // correction that is due but waits for its default.
        const next = this.stmts.nextDue.get()!.t;
        await this.sleep(next === null || next <= now ? poll : Math.max(10, Math.min(next - now, poll)), ['kick', 'force']);
        continue;
      }
      if (rows.length < this.batchLimit() && linger > 0) {
        // Kicks come with every ingest commit; they must not cut the linger short.
        await this.sleep(linger, ['force']);
        if (!this.running) break;
        rows = this.stmts.due.all(this.now(), this.batchLimit());
        if (rows.length === 0) continue;
      }
      const batch = this.prepare(rows);
      if (!batch) continue;
      this.link.state = 'sending';
      this.lastPushAt = this.now();
      await this.pipeline(batch);
    }
  }

  /**
   * Sends `first` and, while full batches are due, batch after batch without idling between
   * them: the next batch is read and its body built while the current push is in flight, and it
   * goes out as soon as the current push is answered; the answer is then recorded while the next
   * push is in flight (the province works on one core, the hub on the other). Still one push in
   * flight at a time, in queue order, and a row is marked only from its own push's answer: a
   * crash before a mark leaves the row pending and it is resent (the province answers
   * "duplicate"). A row that waits for another (after_id) is not read while that one is pending,
   * so it follows in a later push, after the answer. Anything but a plain answer (a failure, a
   * refusal, a stop) drops the prepared batch — its rows are still pending — and is handled as
   * before.
   */
  private async pipeline(first: Batch): Promise<void> {
    let current = first;
    let sending = this.transmit(current);
    for (;;) {
      await yieldToIo(); // the request is written before the next batch is read
      // While devices' records pile up at ingest, no push follows straight on (giveWay).
      const next = this.running && !this.o.ingestBacklogged?.() ? this.prefetch(current) : null;
      const outcome = await sending;
      if (outcome.kind === 'answered' && next && this.running && this.pausedUntil <= this.now()) {
        this.linkUp();
        sending = this.transmit(next);
        await yieldToIo();
        this.recordLater(current.prepared, outcome.results);
        current = next;
        continue;
      }
      this.ahead = []; // still pending: read again by whatever comes next
      this.recordAnswered(); // earlier pushes' answers are written before this one's outcome
      await this.settle(current, outcome);
      return;
    }
  }

  /** The next full batch due, leaving out the push in flight; null when less than a full batch is due. */
  private prefetch(inFlight: Batch): Batch | null {
    const limit = this.batchLimit();
    // A row read ahead that waits for another (after_id) was due at its read because that one was
    // out of pending; if that one was re-pushed since (hall IT, after a refusal), sending this one
    // now would put a correction before its default: then everything is read afresh.
    const stale =
      this.ahead.length >= limit && this.ahead.slice(0, limit).some((r) => r.after_id !== null && this.stmts.pendingId.get(r.after_id));
    if (this.ahead.length < limit || stale) {
      // Read afresh (not topped up), so the batch is the oldest due rows now, in queue order.
      const held = inFlight.prepared.map((p) => p.row.n);
      for (const u of this.unrecorded) for (const p of u.prepared) held.push(p.row.n);
      // Skipped in SQL, however few: reading the held rows to drop them here read their payloads
      // too (66 against 40 µs a read with 8 held, 50,000 queued).
      this.ahead = this.stmts.dueExcept.all(this.now(), JSON.stringify(held), Math.max(limit, READ_AHEAD_ROWS));
    }
    if (this.ahead.length < limit) return null; // a partial batch goes the ordinary way (it may linger for more)
    const rows = this.ahead.splice(0, limit);
    const batch = this.prepare(rows);
    return batch && batch.prepared.length === rows.length ? batch : null;
  }

  /**
   * Maps due rows of one stream into a batch. One request carries one stream (its own envelope,
   * reply format, maybe URL): the stream of the oldest due row now; the others are still due and
   * go in a later push. A row the profile cannot map is rejected here. Null when nothing is left.
   */
  private prepare(due: Row[]): Batch | null {
    const stream = streamOf(due[0]!.kind);
    const rows = due.filter((r) => streamOf(r.kind) === stream);
    const prepared: Prepared[] = [];
    const unmappable: { row: Row; reason: string }[] = [];
    const native = this.o.profile.format === 'native';
    for (const row of rows) {
      try {
        if (stream === null) throw new Error(`unknown queue kind "${row.kind}"`);
        if (stream !== 'evaluation' && !this.o.profile.messages[stream])
          throw new Error(`the profile has no mapping for ${stream} messages (messages.${stream})`);
        // A row queued without its payload (not through enqueueEvaluation/enqueueMessage) would
        // otherwise stay pending unseen; refused, it shows in the rejected list for hall IT.
        if (row.payload === null) throw new Error('nothing to send: no payload was stored with it');
        // The native format is the queued JSON itself (keyed by the row id): no need to parse it.
        if (native) prepared.push({ row, items: [{ key: row.id, body: {}, bytes: row.payload }] });
        else if (stream === 'evaluation')
          prepared.push({
            row,
            items: mapEvaluation(this.o.profile, JSON.parse(row.payload.toString('utf8')) as Evaluation, this.o.context),
          });
        else prepared.push({ row, items: mapMessage(this.o.profile, stream, JSON.parse(row.payload.toString('utf8')), this.o.context) });
      } catch (e) {
        unmappable.push({
          row,
          reason: `the hub could not map this ${row.kind} with profile ${this.o.profile.name}: ${(e as Error).message}`,
        });
      }
    }
    if (unmappable.length) {
      const now = this.now();
      this.record(() => {
        for (const u of unmappable)
          this.stmts.rejected.run(now, JSON.stringify({ source: 'hub', reason: u.reason }), u.reason.slice(0, 500), u.row.n);
      });
      for (const u of unmappable)
        this.o.log.error({ id: u.row.id, reason: u.reason }, 'evaluation cannot be sent; kept as rejected for hall IT');
    }
    return prepared.length ? this.batch(prepared, stream ?? 'evaluation') : null;
  }

  private batch(prepared: Prepared[], stream: Stream): Batch {
    const items = prepared.flatMap((b) => b.items);
    const view = streamView(this.o.profile, stream);
    const bytes = items.every((i): i is WireItem & { bytes: Buffer } => i.bytes !== undefined);
    return { stream, prepared, body: bytes ? buildRequestBytes(view, items) : buildRequestBody(view, items) };
  }

  /** One push and what came of it, the outcome not yet recorded. */
  private async transmit(b: Batch): Promise<SendOutcome> {
    const { stream, prepared, body } = b;
    const abort = new AbortController();
    this.inFlight = abort;
    this.link.lastAttemptAt = this.now();
    const t0 = performance.now();
    let outcome: SendOutcome;
    try {
      outcome = await this.o.transport.send(
        body,
        prepared.flatMap((p) => p.items.map((i) => i.key)),
        abort.signal,
        stream === 'evaluation' ? undefined : { stream: stream as MessageStream, profile: streamView(this.o.profile, stream) },
      );
    } catch (e) {
      outcome = { kind: 'failed', failure: 'connection', message: (e as Error).message }; // transports should not throw; be safe
    } finally {
      this.inFlight = null;
    }
    this.fm.requestSeconds.observe((performance.now() - t0) / 1000);
    this.fm.requests.inc({ outcome: outcome.kind });
    return outcome;
  }

  /** Records what came of a push: marks, a split after a refusal, or a backoff. */
  private async settle(b: Batch, outcome: SendOutcome): Promise<void> {
    const { stream, prepared: batch } = b;
    if (outcome.kind === 'answered') {
      this.linkUp();
      this.applyAnswers([{ prepared: batch, results: outcome.results }]);
    } else if (outcome.kind === 'refused') {
      this.linkUp(); // the province is there and talking; the request is what it refuses
      this.link.lastError = { at: this.now(), kind: 'refused', message: outcome.message };
      if (batch.length > 1) {
        // One bad evaluation must not hold back the others: halve until it stands alone.
        const mid = Math.ceil(batch.length / 2);
        this.o.log.warn(
          { evaluations: batch.length, status: outcome.status, err: outcome.message },
          'province refused a batch; splitting it',
        );
        await this.push(this.batch(batch.slice(0, mid), stream));
        if (this.running) await this.push(this.batch(batch.slice(mid), stream));
      } else {
        this.reject(batch[0]!.row, outcome.message, { source: 'province', status: outcome.status, reason: outcome.message });
      }
    } else if (outcome.failure !== 'aborted') {
      this.linkDown(batch, outcome);
    }
  }

  private async push(b: Batch): Promise<void> {
    await this.settle(b, await this.transmit(b));
  }

  private linkUp(): void {
    if (this.link.consecutiveFailures > 0) this.o.log.info({ after: this.link.consecutiveFailures }, 'province reachable again');
    this.link.consecutiveFailures = 0;
    this.link.lastSuccessAt = this.now();
    this.link.batchSize = Math.min(this.maxBatch, this.link.batchSize * 2);
    this.fm.linkUp.set(1);
  }

  private recordLater(prepared: Prepared[], results: Map<string, ItemResult>): void {
    this.unrecorded.push({ prepared, results });
    this.unrecordedRows += prepared.length;
    if (this.unrecordedRows >= RECORD_GROUP_ROWS) this.recordAnswered();
    else
      this.unrecordedTimer ??= setTimeout(() => {
        try {
          this.recordAnswered();
        } catch (e) {
          // The rows stay pending and are sent again: the province answers "duplicate".
          this.o.log.warn({ err: e }, 'could not record the province answers; those evaluations will be resent');
        }
      }, RECORD_GROUP_MS);
  }

  /** Writes the answers held back by recordLater, in one transaction. */
  private recordAnswered(): void {
    if (this.unrecordedTimer) clearTimeout(this.unrecordedTimer);
    this.unrecordedTimer = null;
    if (this.unrecorded.length === 0) return;
    const answered = this.unrecorded;
    this.unrecorded = [];
    this.unrecordedRows = 0;
    this.applyAnswers(answered);
  }

  private linkDown(batch: Prepared[], f: Extract<SendOutcome, { kind: 'failed' }>): void {
    const now = this.now();
    const { baseMs = 500, maxMs = 60_000 } = this.o.retry ?? {};
    const failures = ++this.link.consecutiveFailures;
    const delay = f.retryAfterMs ?? backoffDelay(failures, baseMs, maxMs, this.random);
    this.pausedUntil = now + delay;
    this.link.lastError = { at: now, kind: f.failure, message: f.message };
    // A batch that fails on the province's side may hold an evaluation it chokes on, or be too
    // big to finish in time: send smaller ones. Throttling, refused credentials and a province
    // that cannot be reached say nothing about the batch.
    if (f.failure === 'server-error' || f.failure === 'timeout' || f.failure === 'bad-reply' || f.failure === 'unexpected-status') {
      this.link.batchSize = Math.max(1, Math.floor(batch.length / 2));
    }
    this.fm.linkUp.set(0);
    this.o.metrics.forwardFailures.inc({ kind: f.failure });
    this.record(() => {
      // Each row also backs off on its own, so the next push tries other rows first.
      for (const { row } of batch)
        this.stmts.retry.run(now + backoffDelay(row.attempts + 1, baseMs, maxMs, this.random), f.message.slice(0, 500), null, row.n);
    });
    this.o.log[f.failure === 'auth' ? 'error' : 'warn'](
      { kind: f.failure, err: f.message, evaluations: batch.length, failures, retryInMs: delay },
      f.failure === 'auth'
        ? 'province refused our credentials; check province.auth — evaluations stay queued'
        : 'push to the province failed; will retry',
    );
  }

  private reject(row: Row, reason: string, reply: unknown): void {
    this.record(() => this.stmts.rejected.run(this.now(), JSON.stringify(reply), reason.slice(0, 500), row.n));
    this.o.log.error({ id: row.id, reason }, 'province rejected an evaluation; kept for hall IT');
  }

  /** Records the province's answers to one or more pushes, in one transaction. */
  private applyAnswers(answered: { prepared: Prepared[]; results: Map<string, ItemResult> }[]): void {
    const now = this.now();
    const { baseMs = 500, maxMs = 60_000 } = this.o.retry ?? {};
    const done: [number, string][] = [];
    const refused: { id: string; reason: string }[] = [];
    this.record(() => {
      for (const { prepared, results } of answered)
        for (const { row, items } of prepared) {
          const answers = items.map((i) => ({ key: i.key, ...(results.get(i.key) ?? { status: 'unanswered' as const }) }));
          const reply = JSON.stringify(answers);
          const rejected = answers.filter((a) => a.status === 'rejected');
          if (answers.every((a) => a.status === 'accepted' || a.status === 'duplicate')) done.push([row.n, reply]);
          else if (rejected.length) {
            const reason = rejected
              .map((a) => (items.length > 1 ? `${a.key}: ` : '') + ('reason' in a && a.reason ? a.reason : 'rejected'))
              .join('; ');
            this.stmts.rejected.run(now, reply, reason.slice(0, 500), row.n);
            refused.push({ id: row.id, reason });
          } else {
            this.stmts.retry.run(
              now + backoffDelay(row.attempts + 1, baseMs, maxMs, this.random),
              'the province did not answer for this evaluation',
              reply,
              row.n,
            );
          }
        }
      // A row is in one push only (the next read leaves out rows in flight or not yet recorded), so
      // each rowid appears once here and in none of the statements above.
      if (done.length) this.stmts.done.run(now, JSON.stringify(done));
    });
    this.o.metrics.forwarded.inc(done.length);
    for (const r of refused) this.o.log.error({ id: r.id, reason: r.reason }, 'province rejected an evaluation; kept for hall IT');
  }
}
