import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { startAdminServer } from '../admin/admin-server.js';
import type { OperationsConfig } from '../config/operations-env.js';
import { Liveness } from '../liveness/liveness.js';
import { exportHealthMetrics } from '../metrics/health-metrics.js';
import { NatsLink } from '../nats/nats-link.js';
import { Readiness } from '../readiness/readiness.js';
import { Shutdown } from '../shutdown/shutdown.js';

export interface Operations {
  readonly readiness: Readiness;
  /** Checks that make /healthz answer 503 (the process is stuck; restart it). */
  readonly liveness: Liveness;
  readonly shutdown: Shutdown;
  readonly adminPort: number;
  /** Tracks the connection for readiness and metrics, and drains it as the last shutdown step. */
  watchNats(nc: NatsConnection): NatsLink;
}

/**
 * Starts what a service needs before anything else: the admin port (so liveness answers
 * from the first second, and readiness says "starting"), SIGTERM/SIGINT handling, and a last
 * log line for errors nothing else caught.
 */
export async function startOperations(config: OperationsConfig, log: Logger, registry: Registry): Promise<Operations> {
  // A bug that escapes every handler: one JSON line saying what happened, then a restart.
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception; exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    log.fatal({ err: reason }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });
  const readiness = new Readiness();
  const liveness = new Liveness();
  exportHealthMetrics(registry, readiness, liveness);
  const shutdown = new Shutdown({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS, delayMs: config.SHUTDOWN_DELAY_MS, readiness, log });
  shutdown.handleSignals();
  const admin = await startAdminServer({ host: config.ADMIN_HOST, port: config.ADMIN_PORT, readiness, liveness, registry, log });
  return {
    readiness,
    liveness,
    shutdown,
    adminPort: admin.port,
    watchNats(nc) {
      const link = NatsLink.watch(nc, {
        log,
        registry,
        onLost: (error) => {
          log.error({ err: error }, 'nats connection closed for good; shutting down');
          void shutdown.begin('nats connection lost', 1);
        },
      });
      readiness.register('nats', link.check);
      shutdown.add('disconnect', 'nats', () => link.close());
      return link;
    },
  };
}
