/**
 * What the hall keeps about its ratings beyond the ratings themselves: the facts behind the
 * statistics, 差评 work orders, 差评 cluster and misuse alerts. One set of these objects is
 * shared by the part that fills them (FactSync) and the parts that read and act on them (the
 * hall page, its JSON API). Building them opens nothing: the database is open already and the
 * policy profile was loaded by the preflight.
 */
import type { WorkingDayCalendar } from '../calendar/working-days.js';
import type { Registry } from '../registry/registry.js';
import { ClusterWatch } from '../stats/alerts.js';
import { Facts } from '../stats/facts.js';
import { MisuseWatch } from '../stats/misuse-alerts.js';
import { StatsQueries } from '../stats/queries.js';
import type { Db } from '../store/db.js';
import type { WebConfig } from '../web/config.js';
import type { Policy } from '../workorders/machine.js';
import { queueOutbound } from '../workorders/outbound.js';
import type { PolicyProfile } from '../workorders/policy.js';
import { WorkOrders } from '../workorders/store.js';

export interface HallRecordsDeps {
  db: Db;
  registry: Registry;
  /** The alert rules (web.alerts, web.misuseAlerts). */
  rules: Pick<WebConfig, 'alerts' | 'misuseAlerts'>;
  /** The 差评 deadlines, loaded by the preflight (or loadPolicy). */
  profile: PolicyProfile;
  calendar: WorkingDayCalendar;
  now: () => number;
  /** This hall's id (milestones sent to the province name it); default: the registry's. */
  hall?: string;
  /** The hand-off destination's name (e.g. 12345), when one is configured: enables 转办. */
  handoffTarget?: string | null;
}

export class HallRecords {
  readonly db: Db;
  readonly facts: Facts;
  readonly stats: StatsQueries;
  readonly workOrders: WorkOrders;
  readonly alerts: ClusterWatch;
  readonly misuse: MisuseWatch;
  readonly profile: PolicyProfile;
  readonly calendar: WorkingDayCalendar;
  readonly handoffTarget: string | null;
  readonly now: () => number;

  constructor(d: HallRecordsDeps) {
    this.db = d.db;
    this.now = d.now;
    this.profile = d.profile;
    this.calendar = d.calendar;
    this.handoffTarget = d.handoffTarget ?? null;
    const policy: Policy = {
      profile: d.profile,
      calendar: d.calendar,
      handoff: this.handoffTarget ? { target: this.handoffTarget } : null,
    };
    this.facts = new Facts(d.db);
    this.stats = new StatsQueries(d.db);
    // Every step that leaves the hall (milestones, invalidation, hand-off) is queued in the step's transaction.
    const outbound = { db: d.db, hall: d.hall ?? d.registry.hall, handoffTarget: this.handoffTarget };
    this.workOrders = new WorkOrders(
      d.db,
      () => policy,
      this.now,
      (ratingId) => this.facts.exclude(ratingId, 'invalid'),
      (step) =>
        queueOutbound(outbound, step.before, step.after, step.cmd, step.event, step.actor, step.at, () =>
          this.workOrders.trail(step.after.id),
        ),
      () => !!d.registry.hallSettings().reasonRequired,
    );
    this.alerts = new ClusterWatch(d.db, this.stats, d.rules.alerts, this.now);
    this.misuse = new MisuseWatch(d.db, d.rules.misuseAlerts, this.now);
  }
}
