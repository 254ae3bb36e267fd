import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per hub instance (tests run several hubs in one process). */
export function createMetrics() {
  const registry = new Registry();
  const m = {
    registry,
    rejected: new Counter({ name: 'hcp_ingest_rejected_total', help: 'Rating messages not stored, by reason (duplicate: already stored, acknowledged again)', labelNames: ['reason'] as const, registers: [registry] }),
    stored: new Counter({ name: 'hcp_ratings_stored_total', help: 'Records stored, by kind and level', labelNames: ['kind', 'level'] as const, registers: [registry] }),
    gaps: new Counter({ name: 'hcp_ingest_gaps_total', help: 'Sequence gaps detected', registers: [registry] }),
    batchSize: new Histogram({ name: 'hcp_ingest_batch_records', help: 'Records per group commit', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500], registers: [registry] }),
    ackLatency: new Histogram({ name: 'hcp_ack_latency_seconds', help: 'From receiving a record to publishing its ack', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    connected: new Gauge({ name: 'hcp_devices_connected', help: 'MQTT clients connected', registers: [registry] }),
    forwardBacklog: new Gauge({ name: 'hcp_forward_backlog', help: 'Records waiting to be accepted by the province', registers: [registry] }),
    forwardOldestAge: new Gauge({ name: 'hcp_forward_oldest_age_seconds', help: 'Age of the oldest record waiting for the province', registers: [registry] }),
    forwarded: new Counter({ name: 'hcp_forwarded_total', help: 'Records the province accepted', registers: [registry] }),
    forwardFailures: new Counter({ name: 'hcp_forward_failures_total', help: 'Failed pushes to the province, by kind', labelNames: ['kind'] as const, registers: [registry] }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;
