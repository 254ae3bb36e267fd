/**
 * Signature checks on worker threads. Checking a rating (decode, Ed25519 verify, hash) was a
 * quarter of the hub's time in a 1,000-device burst, all of it on the one thread that also
 * runs the broker, the store and the acks. The pool runs `checkRating` (check.ts) on
 * `size` workers; ingest keeps the order, the chain and the store on its own thread.
 *
 * A worker that dies (a bug, an out-of-memory) is replaced and its unanswered jobs are sent
 * again to the others: checking is pure, so checking twice is harmless and nothing is lost.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { TopicAddress } from '../../protocol/index.js';
import type { Checked } from './check.js';

export interface VerifyJob {
  addr: TopicAddress;
  topic: string;
  clientId: string | null;
  /** The message as text (a Buffer from the socket may be a view of a much larger one; text is what is sent). */
  payload: string;
  /** The device's SPKI key (base64) as registered, or null when it is not enrolled or revoked. */
  key: string | null;
}

export interface VerifyBatch {
  id: number;
  jobs: VerifyJob[];
}

export interface VerifyResults {
  id: number;
  results: Checked[];
}

interface Outstanding {
  jobs: VerifyJob[];
  done: (results: Checked[]) => void;
}

interface Slot {
  worker: Worker;
  outstanding: Map<number, Outstanding>;
  jobs: number;
}

/**
 * The compiled worker script. From dist/ it sits beside this file; when this file runs from its
 * TypeScript source (the test runner), the compiled one in dist/ is used (`npm run build`).
 */
export function verifyWorkerScript(): string | null {
  const here = fileURLToPath(import.meta.url);
  const beside = join(dirname(here), 'verify-worker.js');
  if (!here.endsWith('.ts')) return existsSync(beside) ? beside : null;
  const dist = join(dirname(here), '..', '..', 'dist', 'hub', 'ingest', 'verify-worker.js');
  return existsSync(dist) ? dist : null;
}

/** One worker per core but one (the main thread runs the broker, the store and the acks), 1–4. */
export function defaultVerifyWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

export class VerifyPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closing = false;
  /** Workers that died and were replaced (a metric for the hub). */
  restarts = 0;

  private constructor(
    private readonly script: string,
    private readonly o: { size: number; hall: string; log: Logger },
  ) {
    for (let i = 0; i < o.size; i++) this.slots.push(this.spawn());
  }

  /** A pool of `size` workers, or null when the compiled worker script is not there (then ingest checks inline). */
  static open(o: { size: number; hall: string; log: Logger }): VerifyPool | null {
    if (o.size < 1) return null;
    const script = verifyWorkerScript();
    if (!script) {
      o.log.warn('the verification worker is not built (npm run build): checking signatures on the main thread');
      return null;
    }
    return new VerifyPool(script, o);
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(): Slot {
    // Workers do not keep the hub alive: it stops when its parts stop.
    // A small nursery: a worker's garbage is short-lived (one batch's records), and V8's default
    // lets each worker's young generation grow to tens of MiB of the hub's memory under load.
    const worker = new Worker(this.script, { workerData: { hall: this.o.hall }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    worker.unref();
    const slot: Slot = { worker, outstanding: new Map(), jobs: 0 };
    worker.on('message', (m: VerifyResults) => {
      const o = slot.outstanding.get(m.id);
      if (!o) return;
      slot.outstanding.delete(m.id);
      slot.jobs -= o.jobs.length;
      o.done(m.results);
    });
    worker.on('error', (e) => this.o.log.error({ err: e }, 'a verification worker failed'));
    worker.on('exit', (code) => {
      if (this.closing) return;
      this.restarts++;
      this.o.log.error({ code, unanswered: slot.jobs }, 'a verification worker stopped; starting another and checking its jobs again');
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
      for (const o of slot.outstanding.values()) this.send(o);
      slot.outstanding.clear();
    });
    return slot;
  }

  /** Checks `jobs` on the least busy worker; `done` gets one result per job, in order. */
  check(jobs: VerifyJob[], done: (results: Checked[]) => void): void {
    this.send({ jobs, done });
  }

  private send(o: Outstanding): void {
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.jobs < slot.jobs) slot = s;
    const id = this.nextId++;
    slot.outstanding.set(id, o);
    slot.jobs += o.jobs.length;
    slot.worker.postMessage({ id, jobs: o.jobs } satisfies VerifyBatch);
  }

  /** For tests: ends one worker the way a crash would. */
  crashOne(): Promise<number> {
    return this.slots[0]!.worker.terminate();
  }

  /** Stops the workers; jobs not answered yet are dropped (their records are not acked: devices resend). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
