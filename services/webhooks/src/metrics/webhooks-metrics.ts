import { createMetricsRegistry } from '@signal/operations';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The webhooks dispatcher's metrics, one registry per process, served on the admin port. */
export const registry = createMetricsRegistry();

export const metrics = {
  registry,
  produced: new Counter({
    name: 'signal_webhooks_events_produced_total',
    help: 'Events derived from the buckets and stored in the events stream by this process, by type (a replay after a restart, dropped as a duplicate, is not counted)',
    labelNames: ['type'],
    registers: [registry],
  }),
  delivered: new Counter({
    name: 'signal_webhooks_events_delivered_total',
    help: 'Events an endpoint acknowledged with a 2xx answer, by type',
    labelNames: ['type'],
    registers: [registry],
  }),
  requests: new Counter({
    name: 'signal_webhooks_requests_total',
    help: 'Requests sent to endpoints, by result: ok (2xx), status (another status), error (no answer: refused, reset, timeout)',
    labelNames: ['result'],
    registers: [registry],
  }),
  retried: new Counter({
    name: 'signal_webhooks_events_retried_total',
    help: 'Events whose delivery failed and was scheduled again with backoff',
    registers: [registry],
  }),
  deadLettered: new Counter({
    name: 'signal_webhooks_events_dead_lettered_total',
    help: 'Events moved to the dead-letter stream after WEBHOOK_RETRY_PERIOD_MS without a successful delivery',
    registers: [registry],
  }),
  latency: new Histogram({
    name: 'signal_webhooks_delivery_latency_seconds',
    help: 'From the write that caused an event (its `time`) to the endpoint acknowledging it, retries included',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    registers: [registry],
  }),
  endpointsOwned: new Gauge({
    name: 'signal_webhooks_endpoints_owned',
    help: 'Endpoints this dispatcher delivers now (it holds their lease)',
    registers: [registry],
  }),
  leaseChanges: new Counter({
    name: 'signal_webhooks_lease_changes_total',
    help: 'Endpoint leases of this dispatcher, by change: acquired, released (handed over to a better-placed dispatcher, or at shutdown), lost (not renewed within WEBHOOK_LEASE_MS: this process stalled or NATS was away)',
    labelNames: ['change'],
    registers: [registry],
  }),
  derivationLag: new Gauge({
    name: 'signal_webhooks_derivation_lag_records',
    help: 'Bucket writes in a derivation log (log: presence, presence_<n> for presence shard n, online, occupancy) not yet turned into events by this process',
    labelNames: ['log'],
    registers: [registry],
  }),
  vacatedHolds: new Counter({
    name: 'signal_webhooks_vacated_holds_total',
    help: 'channel_vacated events held until the member_removed events of the channel were derived, by result: released (they were), expired (WEBHOOK_ORDER_WAIT_MS passed first)',
    labelNames: ['result'],
    registers: [registry],
  }),
  logGaps: new Counter({
    name: 'signal_webhooks_log_gaps_total',
    help: 'Times the derivation found log records missing (expired past WEBHOOK_LOG_MAX_AGE_MS while no dispatcher ran): events of that span may be missing',
    registers: [registry],
  }),
  dropped: new Counter({
    name: 'signal_webhooks_dropped_messages_total',
    help: 'Messages dropped because they could not be handled, by source and reason (invalid, failed)',
    labelNames: ['source', 'reason'],
    registers: [registry],
  }),
  appsReloads: new Counter({
    name: 'signal_webhooks_apps_reloads_total',
    help: 'Reloads of the apps file (SIGHUP or a change on disk), by result: ok (in force), refused (invalid; the previous file stays)',
    labelNames: ['result'],
    registers: [registry],
  }),
};
