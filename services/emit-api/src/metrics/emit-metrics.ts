import { createMetricsRegistry } from '@signal/operations';
import { Counter, Histogram } from 'prom-client';

/** The emit-api's metrics, one registry per process, served on the admin port. */
export const registry = createMetricsRegistry();

export const metrics = {
  registry,
  requests: new Counter({
    name: 'signal_emit_requests_total',
    help: 'HTTP requests answered, by route (the registered path, or "unmatched"), method and status code',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  }),
  requestSeconds: new Histogram({
    name: 'signal_emit_request_duration_seconds',
    help: 'Time from a request arriving to its response being written, by route',
    labelNames: ['route'],
    buckets: [0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
  limitRefusals: new Counter({
    name: 'signal_emit_limit_refusals_total',
    help: 'Requests refused by a limit or rate, by limit (the configuration variable\'s name in lower case, see docs/limits.md)',
    labelNames: ['limit'],
    registers: [registry],
  }),
  signalsAccepted: new Counter({
    name: 'signal_emit_signals_total',
    help: 'Signals accepted and published (one per signal in a batch)',
    registers: [registry],
  }),
  deliveries: new Counter({
    name: 'signal_emit_deliveries_total',
    help: 'NATS publishes made for accepted signals (one per destination)',
    registers: [registry],
  }),
  droppedMessages: new Counter({
    name: 'signal_emit_dropped_messages_total',
    help: 'NATS messages dropped because they could not be handled, by source (heartbeat: a gateway heartbeat record) and reason (invalid, failed)',
    labelNames: ['source', 'reason'],
    registers: [registry],
  }),
  historyStored: new Counter({
    name: 'signal_emit_history_stored_total',
    help: "Signals to channels that keep history, stored in their environment's history stream (docs/recovery.md)",
    registers: [registry],
  }),
  historyReads: new Counter({
    name: 'signal_emit_history_reads_total',
    help: 'GET /v1/channels/:channel/history pages answered',
    registers: [registry],
  }),
  webhookReplays: new Counter({
    name: 'signal_emit_webhook_replays_total',
    help: 'Webhook dead letters replayed through POST /v1/webhooks/dead-letters/replay (stored in the events stream again)',
    registers: [registry],
  }),
  appsReloads: new Counter({
    name: 'signal_emit_apps_reloads_total',
    help: 'Reloads of the apps file (SIGHUP or a change on disk), by result: ok (in force), refused (invalid; the previous file stays)',
    labelNames: ['result'],
    registers: [registry],
  }),
};
