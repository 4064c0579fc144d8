export { operationsEnv, type OperationsConfig } from './config/operations-env.js';
export { createLogger } from './logging/create-logger.js';
export { scrubSecrets } from './logging/scrub-secrets.js';
export { createMetricsRegistry, totalCounter, labelledTotalCounter } from './metrics/metrics-registry.js';
export { Readiness, type ReadinessCheck, type CheckResult, type ReadinessReport } from './readiness/readiness.js';
export { startAdminServer, type AdminServer, type AdminServerOptions } from './admin/admin-server.js';
export { Shutdown, SHUTDOWN_STAGES, type ShutdownStage, type ShutdownHook, type ShutdownOptions } from './shutdown/shutdown.js';
export { NatsLink, assertNatsConnected, type NatsLinkOptions } from './nats/nats-link.js';
export { startOperations, type Operations } from './lifecycle/start-operations.js';
