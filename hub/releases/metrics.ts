/** Fleet update gauges on the hub's /metrics, read from the database when Prometheus scrapes. */
import { Gauge, type Registry } from 'prom-client';
import type { Releases } from './releases.js';

export function registerReleaseMetrics(registry: Registry, releases: Releases): void {
  new Gauge({
    name: 'hcp_device_updates',
    help: 'Devices by the release and state of their last reported update (downloading, verifying, installed, active, failed, rolled-back)',
    labelNames: ['version', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of releases.counts().states) this.set({ version: s.version, state: s.state }, s.n);
    },
  });
  new Gauge({
    name: 'hcp_devices_running_release',
    help: 'Devices by the release they last reported running',
    labelNames: ['version'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of releases.counts().running) this.set({ version: r.version }, r.n);
    },
  });
}
