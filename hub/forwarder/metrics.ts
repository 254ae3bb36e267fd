import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The forwarder's own series, next to the hub's hcp_forward_backlog, hcp_forward_oldest_age_seconds,
 * hcp_forwarded_total and hcp_forward_failures_total (hub/metrics.ts).
 */
export function forwarderMetrics(registry: Registry) {
  const one = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    rejected: one(
      'hcp_forward_rejected',
      () =>
        new Gauge({
          name: 'hcp_forward_rejected',
          help: 'Evaluations the province refused for good, kept for hall IT to fix and re-push',
          registers: [registry],
        }),
    ),
    requests: one(
      'hcp_forward_requests_total',
      () =>
        new Counter({
          name: 'hcp_forward_requests_total',
          help: 'Pushes to the province, by outcome (answered, failed, refused)',
          labelNames: ['outcome'] as const,
          registers: [registry],
        }),
    ),
    requestSeconds: one(
      'hcp_forward_request_seconds',
      () =>
        new Histogram({
          name: 'hcp_forward_request_seconds',
          help: 'Duration of one push to the province',
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        }),
    ),
    linkUp: one(
      'hcp_forward_link_up',
      () =>
        new Gauge({
          name: 'hcp_forward_link_up',
          help: '1 when the last push reached the province and was answered, else 0',
          registers: [registry],
        }),
    ),
  };
}
export type ForwarderMetrics = ReturnType<typeof forwarderMetrics>;
