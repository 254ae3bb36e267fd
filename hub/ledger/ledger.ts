/**
 * The ledger inside the running hub: once a China-time day has ended it makes that day's
 * signed checkpoint (hub/ledger/checkpoints.ts) and then audits the whole database
 * (hub/ledger/verify.ts). A mismatch raises an `integrity` alarm naming the rows and shows on
 * /metrics (hcp_ledger_mismatches). The audit reads through its own connection in one
 * snapshot and yields between chunks, so ingest keeps committing while it runs.
 */
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Alarms } from '../alarms/alarms.js';
import { enqueueMessage, messageId } from '../forwarder/messages.js';
import { dayNumber } from '../calendar/working-days.js';
import type { Metrics } from '../metrics.js';
import type { Db } from '../store/db.js';
import { Checkpoints, type CheckpointMessage, type StoredCheckpoint } from './checkpoints.js';
import { loadOrCreateHubKey, type HubKey } from './hub-key.js';
import { verifyLedger, type VerifyReport } from './verify.js';

const DAY_MS = 86_400_000;
const CHINA_OFFSET_MS = 8 * 3_600_000;

/**
 * Puts each new checkpoint on the durable forward queue to the province (like the evaluations,
 * whether or not a province is configured yet: it is sent once one is). Its id is derived from
 * hall and day, so the province deduplicates a resend.
 */
export function forwardCheckpoint(db: Db): (m: CheckpointMessage, at: number) => void {
  return (m, at) => {
    const id = messageId('checkpoint', m.hall, m.day);
    enqueueMessage(db, { id, kind: 'checkpoint', payload: { id, ...m } }, at);
  };
}

export interface LedgerOptions {
  db: Db;
  /** The database file: the audit opens its own read connection to it. */
  dbPath: string;
  dataDir: string;
  hall: string;
  alarms: Alarms;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
  /** Puts a new checkpoint in the durable queue to the province; runs inside the transaction that keeps it. */
  forward?: (m: CheckpointMessage, at: number) => void;
  /** Minutes after China midnight the daily run starts (default 30: late records of the day have committed). */
  dailyAtMinute?: number;
}

export class Ledger {
  readonly key: HubKey;
  readonly checkpoints: Checkpoints;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private running: Promise<VerifyReport | null> | null = null;
  private readonly now: () => number;
  private readonly m;

  constructor(private readonly o: LedgerOptions) {
    this.now = o.now ?? Date.now;
    this.key = loadOrCreateHubKey(o.dataDir);
    this.checkpoints = new Checkpoints(o.db, o.hall, this.key, o.forward);
    const registers = [o.metrics.registry];
    this.m = {
      mismatches: new Gauge({
        name: 'hcp_ledger_mismatches',
        help: 'Rows the last integrity audit found not matching their signature, source, recount or chain, by table',
        labelNames: ['table'] as const,
        registers,
      }),
      audits: new Counter({
        name: 'hcp_ledger_audits_total',
        help: 'Integrity audits run, by result (ok, mismatch, error)',
        labelNames: ['result'] as const,
        registers,
      }),
      lastAudit: new Gauge({ name: 'hcp_ledger_last_audit_timestamp_seconds', help: 'When the last integrity audit finished', registers }),
      auditSeconds: new Gauge({ name: 'hcp_ledger_audit_duration_seconds', help: 'How long the last integrity audit took', registers }),
      checkpoints: new Counter({ name: 'hcp_ledger_checkpoints_total', help: 'Signed daily checkpoints made', registers }),
    };
  }

  /** Catches up on checkpoints missed while the hub was down, then runs daily. */
  start(): void {
    this.makeCheckpoints();
    this.schedule();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Waits for an audit in progress (before the database closes). */
  async drain(): Promise<void> {
    await this.running?.catch(() => {});
  }

  private schedule(): void {
    const at = this.nextRunAt(this.now());
    // setTimeout holds at most ~24.8 days; a day is well inside.
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.runDaily().finally(() => {
          if (!this.closed) this.schedule();
        });
      },
      Math.max(0, at - this.now()),
    );
    this.timer.unref();
  }

  /** The next daily run after `now`: dailyAtMinute past midnight, China time. */
  nextRunAt(now: number): number {
    const offset = (this.o.dailyAtMinute ?? 30) * 60_000;
    const today = dayNumber(now) * DAY_MS - CHINA_OFFSET_MS + offset;
    return today > now ? today : today + DAY_MS;
  }

  makeCheckpoints(): StoredCheckpoint[] {
    try {
      const made = this.checkpoints.makeDue(this.now());
      for (const c of made) {
        this.m.checkpoints.inc();
        const d = JSON.parse(c.body) as { day: string; records: number };
        this.o.log.info({ day: d.day, records: d.records }, 'signed the daily checkpoint');
      }
      return made;
    } catch (e) {
      this.o.log.error({ err: e }, 'could not make the daily checkpoint');
      return [];
    }
  }

  /** The daily run: yesterday's checkpoint, then the audit. Also the trigger tests and operators use. */
  async runDaily(): Promise<VerifyReport | null> {
    this.makeCheckpoints();
    return this.audit();
  }

  /** Re-checks the whole database; raises an integrity alarm for what does not fit. One at a time. */
  audit(): Promise<VerifyReport | null> {
    if (this.running) return this.running;
    this.running = this.auditOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async auditOnce(): Promise<VerifyReport | null> {
    let conn: Database.Database | null = null;
    try {
      conn = new Database(this.o.dbPath, { fileMustExist: true });
      conn.pragma('busy_timeout = 5000');
      const report = await verifyLedger(conn, { hubKey: this.key.publicKey, yieldEvery: 500, maxFindings: 200 });
      this.m.mismatches.reset();
      const byTable = new Map<string, number>();
      for (const f of report.findings) byTable.set(f.table, (byTable.get(f.table) ?? 0) + 1);
      for (const [table, n] of byTable) this.m.mismatches.set({ table }, n);
      this.m.audits.inc({ result: report.ok ? 'ok' : 'mismatch' });
      this.m.lastAudit.set(this.now() / 1000);
      this.m.auditSeconds.set(report.ms / 1000);
      if (report.ok) this.o.log.info({ checked: report.checked, ms: report.ms }, 'integrity audit: everything matches');
      else {
        const total = report.findings.length + report.omitted;
        const first = report.findings
          .slice(0, 5)
          .map((f) => `${f.table} ${f.key}: ${f.problem}`)
          .join('; ');
        this.o.alarms.raise(
          'integrity',
          null,
          `integrity audit: ${total} stored row(s) do not match their signature, source or recount — ${first}${total > 5 ? '; …' : ''} (run "haochaping hub verify" for all)`,
          {
            total,
            findings: report.findings.slice(0, 50),
          },
        );
      }
      return report;
    } catch (e) {
      this.m.audits.inc({ result: 'error' });
      this.o.log.error({ err: e }, 'integrity audit failed to run');
      return null;
    } finally {
      conn?.close();
    }
  }
}
