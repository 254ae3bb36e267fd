import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per hub instance (tests run several hubs in one process). */
export function createMetrics() {
  const registry = new Registry();
  const m = {
    registry,
    rejected: new Counter({
      name: 'hcp_ingest_rejected_total',
      help: 'Rating messages not stored, by reason (duplicate: already stored, acknowledged again)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    stored: new Counter({
      name: 'hcp_ratings_stored_total',
      help: 'Records stored, by kind and level',
      labelNames: ['kind', 'level'] as const,
      registers: [registry],
    }),
    gaps: new Counter({ name: 'hcp_ingest_gaps_total', help: 'Sequence gaps detected', registers: [registry] }),
    batchSize: new Histogram({
      name: 'hcp_ingest_batch_records',
      help: 'Records per group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'hcp_ingest_commit_seconds',
      help: 'One group commit on the ingest thread: its statements and the commit (fsync, and a WAL checkpoint when one is due)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: 'hcp_ack_latency_seconds',
      help: 'From receiving a record to publishing its ack',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    connected: new Gauge({ name: 'hcp_devices_connected', help: 'MQTT clients connected', registers: [registry] }),
    forwardBacklog: new Gauge({
      name: 'hcp_forward_backlog',
      help: 'Records waiting to be accepted by the province',
      registers: [registry],
    }),
    forwardOldestAge: new Gauge({
      name: 'hcp_forward_oldest_age_seconds',
      help: 'Age of the oldest record waiting for the province',
      registers: [registry],
    }),
    forwarded: new Counter({ name: 'hcp_forwarded_total', help: 'Records the province accepted', registers: [registry] }),
    forwardFailures: new Counter({
      name: 'hcp_forward_failures_total',
      help: 'Failed pushes to the province, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    alarms: new Counter({
      name: 'hcp_alarms_total',
      help: 'Alarms raised for hall IT, by kind (forged or forked records, sequence gaps)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    brokerDenied: new Counter({
      name: 'hcp_broker_denied_total',
      help: 'MQTT actions the broker refused, by action and reason',
      labelNames: ['action', 'reason'] as const,
      registers: [registry],
    }),
    throttled: new Counter({
      name: 'hcp_broker_throttled_total',
      help: 'Publishes held back by the per-device rate limit',
      registers: [registry],
    }),
    missing: new Gauge({
      name: 'hcp_missing_records',
      help: 'Records known to be missing (open sequence gaps), by device',
      labelNames: ['device'] as const,
      registers: [registry],
    }),
    deviceOnline: new Gauge({
      name: 'hcp_device_online',
      help: '1 while the device is connected to the broker',
      labelNames: ['device'] as const,
      registers: [registry],
    }),
    deviceBacklog: new Gauge({
      name: 'hcp_device_outbox_depth',
      help: 'Records waiting in the device outbox, as last reported',
      labelNames: ['device'] as const,
      registers: [registry],
    }),
    deviceClockOffset: new Gauge({
      name: 'hcp_device_clock_offset_seconds',
      help: 'Device clock minus hub clock, as observed when its status arrived',
      labelNames: ['device'] as const,
      registers: [registry],
    }),
    sessions: new Counter({
      name: 'hcp_sessions_total',
      help: 'Service sessions by what became of them (opened, rated, cancelled, defaulted, corrected)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;
