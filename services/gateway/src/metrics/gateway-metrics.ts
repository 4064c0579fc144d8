import { createMetricsRegistry, labelledTotalCounter, totalCounter } from '@signal/operations';
import { Counter, Gauge, Histogram } from 'prom-client';

/**
 * The gateway's metrics, one registry per process, served on the admin port. Hot paths bump
 * plain numbers (`socketStats`, the hub's `stats`) that are read at scrape time; only rare
 * events and sampled timings go through prom-client directly.
 *
 * Features add their own metrics to `registry`, or increment the ones defined here for them
 * (presence sweeps).
 */
export const registry = createMetricsRegistry();

/** Counted by the WebSocket instrumentation for every surface. */
export const socketStats = {
  opened: 0,
  framesIn: 0,
  bytesIn: 0,
  /** Closes per close code label (see closeCodeLabel). */
  closes: new Map<string, number>(),
  slowConsumers: 0,
  /** Sum and largest per-socket send queue at the last slow-consumer check. */
  queuedBytes: 0,
  largestQueueBytes: 0,
};

/** One in FANOUT_SAMPLE_EVERY messages is timed: a timing costs more than the rest of a small fan-out. */
export const FANOUT_SAMPLE_EVERY = 8;

export const metrics = {
  registry,
  connectionsOpened: totalCounter(registry, 'signal_gateway_connections_opened_total', 'WebSocket connections opened, all surfaces', () => socketStats.opened),
  connectionsClosed: labelledTotalCounter(
    registry,
    'signal_gateway_connections_closed_total',
    'WebSocket connections closed, by close code (1006: dropped without a close frame: network loss, idle timeout, or cut at MAX_BACKPRESSURE_BYTES)',
    'code',
    () => socketStats.closes,
  ),
  framesIn: totalCounter(registry, 'signal_gateway_client_frames_in_total', 'Frames received from clients', () => socketStats.framesIn),
  bytesIn: totalCounter(registry, 'signal_gateway_client_bytes_in_total', 'Payload bytes received from clients', () => socketStats.bytesIn),
  slowConsumers: totalCounter(
    registry,
    'signal_gateway_slow_consumer_disconnects_total',
    'Clients closed with 4008 because their send queue passed half of MAX_BACKPRESSURE_BYTES',
    () => socketStats.slowConsumers,
  ),
  queuedBytes: new Gauge({
    name: 'signal_gateway_send_queue_bytes',
    help: 'Bytes waiting in all client send queues, at the last slow-consumer check',
    registers: [registry],
    collect() {
      this.set(socketStats.queuedBytes);
    },
  }),
  largestQueueBytes: new Gauge({
    name: 'signal_gateway_send_queue_largest_bytes',
    help: "The largest single client's send queue, at the last slow-consumer check",
    registers: [registry],
    collect() {
      this.set(socketStats.largestQueueBytes);
    },
  }),
  connectionsRefused: new Counter({
    name: 'signal_gateway_connections_refused_total',
    help: 'WebSocket upgrades refused, by reason (token failures: malformed, unknown_issuer, bad_signature, expired, bad_claims, not_granted, revoked; missing_credentials, unknown_key, key_mismatch; shutting_down; Stelace handshake refusals: stelace_invalid_token, stelace_revoked, stelace_timeout, …)',
    labelNames: ['reason'],
    registers: [registry],
  }),
  fanOutSeconds: new Histogram({
    name: 'signal_gateway_fanout_duration_seconds',
    help: `Time from a NATS message reaching the gateway to its frames being handed to uWebSockets.js for every local subscriber (one message in ${FANOUT_SAMPLE_EVERY} is timed)`,
    buckets: [0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05],
    registers: [registry],
  }),
  limitRefusals: new Counter({
    name: 'signal_gateway_limit_refusals_total',
    help: 'Requests and connections refused by a resource limit or rate, by limit (the configuration variable\'s name in lower case, see docs/limits.md)',
    labelNames: ['limit'],
    registers: [registry],
  }),
  droppedMessages: new Counter({
    name: 'signal_gateway_dropped_messages_total',
    help: 'NATS messages this node could not handle and dropped, by source (subject, connection, presence, heartbeat, revocation, selfcheck; timer: one socket\'s slow-consumer check) and reason (invalid: not an envelope; failed: handling threw)',
    labelNames: ['source', 'reason'],
    registers: [registry],
  }),
  revocationsApplied: new Counter({
    name: 'signal_gateway_revocations_applied_total',
    help: 'Revocations this node took into its list from the revocation bucket, by kind (jti: one token; user: every token of a user issued before a time)',
    labelNames: ['kind'],
    registers: [registry],
  }),
  forcedCloses: new Counter({
    name: 'signal_gateway_forced_closes_total',
    help: 'Open connections this node closed on a backend\'s order, by reason (revoked: their token was revoked, close code 4003; disconnected: POST /v1/disconnect, 4004)',
    labelNames: ['reason'],
    registers: [registry],
  }),
  presenceSweeps: new Counter({
    name: 'signal_gateway_presence_sweeps_total',
    help: 'Dead gateway nodes whose presence entries this node swept',
    registers: [registry],
  }),
  presenceFeeds: new Gauge({
    name: 'signal_gateway_presence_feeds',
    help: 'Presence channels this node follows in the store (one JetStream consumer each): those with a local participant',
    registers: [registry],
  }),
  presenceRetries: new Counter({
    name: 'signal_gateway_presence_retries_total',
    help: 'Presence operations retried after a transient JetStream error (a leader election, a timeout, no responders), by what was retried: store, heartbeat, claim',
    labelNames: ['operation'],
    registers: [registry],
  }),
  presenceSweptEntries: new Counter({
    name: 'signal_gateway_presence_swept_entries_total',
    help: 'Presence entries removed (with leave events) by sweeps of dead nodes',
    registers: [registry],
  }),
  markersPurged: new Counter({
    name: 'signal_gateway_markers_purged_total',
    help: 'Old delete markers (with the older records of their keys) the janitor purged, by bucket: presence, online, occupancy',
    labelNames: ['bucket'],
    registers: [registry],
  }),
  onlineWriteFailures: new Counter({
    name: 'signal_gateway_online_write_failures_total',
    help: 'Writes to the online bucket (ONLINE_BUCKET: a user\'s first connection on this node, or its last one gone) that failed; webhooks user_online/user_offline depend on them',
    registers: [registry],
  }),
  appsReloads: new Counter({
    name: 'signal_gateway_apps_reloads_total',
    help: 'Reloads of the apps file (SIGHUP or a change on disk), by result: ok (in force), refused (invalid; the previous file stays)',
    labelNames: ['result'],
    registers: [registry],
  }),
  historyStored: new Counter({
    name: 'signal_gateway_history_stored_total',
    help: 'Client messages to channels that keep history, and direct messages to users and devices where the environment keeps them, stored in their environment\'s history stream (docs/recovery.md)',
    registers: [registry],
  }),
  webhookClientMessages: new Counter({
    name: 'signal_gateway_webhook_client_messages_total',
    help: 'Client publishes on channels whose namespace sends client messages to webhooks, by result: stored (in the webhooks messages log), failed (refused to the client as unavailable)',
    labelNames: ['result'],
    registers: [registry],
  }),
  recoveries: new Counter({
    name: 'signal_gateway_recoveries_total',
    help: 'Recoveries, by kind (channel: a join with a position; direct: a connection with a `since` recovering its direct messages) and result (recovered: every missed message delivered; window: the history no longer covers the position; epoch: the history was lost or the position is unknown; busy: more live messages came during the read than a recovery holds back; unavailable: the history could not be read, the join went live without it)',
    labelNames: ['kind', 'result'],
    registers: [registry],
  }),
  recoveredMessages: new Counter({
    name: 'signal_gateway_recovered_messages_total',
    help: 'Missed messages delivered by recoveries',
    registers: [registry],
  }),
};

/** What a presence retry is counted under; each starts at 0, so a rate is defined before the first election. */
export const PRESENCE_RETRY_OPERATIONS = ['store', 'heartbeat', 'claim'] as const;
for (const operation of PRESENCE_RETRY_OPERATIONS) metrics.presenceRetries.inc({ operation }, 0);
/** The buckets whose old delete markers the janitor purges. */
export const PURGED_BUCKETS = ['presence', 'online', 'occupancy'] as const;
for (const bucket of PURGED_BUCKETS) metrics.markersPurged.inc({ bucket }, 0);

const STANDARD_CLOSE_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 4001, 4003, 4004, 4005, 4008, 4029]);

/** Close codes are partly chosen by clients; anything unexpected shares one label so it cannot flood the registry. */
export function closeCodeLabel(code: number): string {
  return STANDARD_CLOSE_CODES.has(code) ? String(code) : 'other';
}
