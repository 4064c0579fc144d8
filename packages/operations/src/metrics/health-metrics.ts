import { Gauge, type Registry } from 'prom-client';
import type { Liveness } from '../liveness/liveness.js';
import type { Readiness } from '../readiness/readiness.js';

/**
 * What /readyz and /healthz would answer, as metrics, so an alert can say "not ready for 5
 * minutes" or "liveness failing" and name the check. Probes only tell the orchestrator; it keeps
 * no history an operator can query. Evaluated at scrape time, like /readyz itself.
 */
export function exportHealthMetrics(registry: Registry, readiness: Readiness, liveness: Liveness): void {
  new Gauge({
    name: 'signal_readiness_check',
    help: 'Each readiness check of /readyz: 1 passing, 0 failing, by check (lifecycle, nats, presence, …); the process is ready when all are 1',
    labelNames: ['check'],
    registers: [registry],
    async collect() {
      const report = await readiness.evaluate();
      this.reset();
      for (const [check, result] of Object.entries(report.checks)) this.set({ check }, result.ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'signal_liveness_check',
    help: 'Each liveness check of /healthz: 1 passing, 0 failing (the orchestrator restarts the process), by check (gateway: nats-input)',
    labelNames: ['check'],
    registers: [registry],
    collect() {
      const report = liveness.evaluate();
      this.reset();
      for (const [check, result] of Object.entries(report.checks)) this.set({ check }, result.alive ? 1 : 0);
    },
  });
}
