import { z } from 'zod';
import { appsFileWatchVar, intVar, logLevelVar, parseEnv, webhookStreamVar } from '@signal/core';
import { checkNatsEnv, natsEnv, operationsEnv } from '@signal/operations';
import { onlineBucketVar, presenceStoreVars } from '@signal/presence';

const bucketName = z.string().regex(/^[a-zA-Z0-9_-]{1,200}$/, { error: 'must be 1-200 of a-z, A-Z, 0-9, _ or -' });
const HOUR_MS = 3_600_000;

const schema = z
  .object({
    ...natsEnv,
    APPS_FILE: z.string({ error: 'is required: the path of the apps JSON file' }).min(1),
    /** Reload the apps file when it changes on disk; SIGHUP reloads it either way. */
    APPS_FILE_WATCH: appsFileWatchVar,
    LOG_LEVEL: logLevelVar,
    /** The participants bucket the gateways write (member_added/member_removed); its heartbeats are `<bucket>_nodes`. */
    PRESENCE_BUCKET: presenceStoreVars.PRESENCE_BUCKET,
    PRESENCE_SHARDS: presenceStoreVars.PRESENCE_SHARDS,
    /** The online bucket the gateways write (user_online/user_offline). */
    ONLINE_BUCKET: onlineBucketVar,
    /** The occupancy bucket the gateways write (channel_occupied/channel_vacated). */
    OCCUPANCY_BUCKET: bucketName.default('signal_occupancy'),
    /** Name of the events stream; the derivation logs are `<name>_log_*`, dead letters `<name>_dead`, checkpoints `<name>_state`, endpoint leases `<name>_leases`. */
    WEBHOOK_STREAM: webhookStreamVar,
    /** JetStream replicas of the webhook streams when they are created (3 on a 3-node NATS cluster). */
    WEBHOOK_REPLICAS: intVar(1, 5, 1),
    /** Where the webhook streams live: `file` keeps undelivered events across a NATS restart. */
    WEBHOOK_STORAGE: z.enum(['memory', 'file'], { error: 'must be memory or file' }).default('file'),
    /** Ordering partitions per environment: one request in flight per partition and endpoint; events of one channel (or user) share one. */
    WEBHOOK_PARTITIONS: intVar(1, 256, 64),
    /** An endpoint is delivered by one dispatcher at a time, whose lease lasts this long unrenewed: how soon another takes over after it dies. */
    WEBHOOK_LEASE_MS: intVar(1000, 300_000, 5000),
    /** Most events of one endpoint delivered and not yet acknowledged at once (held in its owner's memory). */
    WEBHOOK_MAX_PENDING: intVar(1, 100_000, 1000),
    /** Most events in one request. */
    WEBHOOK_BATCH_MAX: intVar(1, 1000, 100),
    /** How long the first event of a batch waits for others before the request is sent. */
    WEBHOOK_BATCH_LINGER_MS: intVar(0, 1000, 5),
    /** A request not answered by then has failed and is retried. */
    WEBHOOK_TIMEOUT_MS: intVar(100, 120_000, 10_000),
    /** Wait before the first retry; each further retry waits twice as long, up to WEBHOOK_RETRY_MAX_MS. */
    WEBHOOK_RETRY_MIN_MS: intVar(10, 3_600_000, 1000),
    /** Longest wait between two retries. */
    WEBHOOK_RETRY_MAX_MS: intVar(10, 24 * HOUR_MS, 5 * 60_000),
    /** An event still undelivered this long after it was produced goes to the dead-letter stream. */
    WEBHOOK_RETRY_PERIOD_MS: intVar(1000, 7 * 24 * HOUR_MS, 24 * HOUR_MS),
    /** How long the dead-letter stream keeps an event for a backend to read and replay. */
    WEBHOOK_DEAD_MAX_AGE_MS: intVar(60_000, 365 * 24 * HOUR_MS, 7 * 24 * HOUR_MS),
    /** How long the derivation log keeps bucket writes: the longest outage of every dispatcher that loses nothing. */
    WEBHOOK_LOG_MAX_AGE_MS: intVar(60_000, 30 * 24 * HOUR_MS, 24 * HOUR_MS),
    /** Most bytes of client messages waiting in the messages log (client_message); when full, gateways refuse such publishes as unavailable. */
    WEBHOOK_MESSAGES_MAX_BYTES: intVar(1024 * 1024, 64 * 1024 * 1024 * 1024, 1024 * 1024 * 1024),
    /** Longest a channel_vacated waits for the member_removed events of its channel to be derived, so it comes after them; 0: no wait. */
    WEBHOOK_ORDER_WAIT_MS: intVar(0, 60_000, 2000),
    /** How often the derivation's position and state are saved, so a restart replays at most this much. */
    WEBHOOK_CHECKPOINT_MS: intVar(100, 60_000, 5000),
    /** The events stream drops a re-published event with an id it saw within this window (restarts replay since the last checkpoint). */
    WEBHOOK_DEDUP_WINDOW_MS: intVar(10_000, 24 * HOUR_MS, 10 * 60_000),
    ...operationsEnv(9093),
  })
  .superRefine(checkNatsEnv)
  .refine((c) => c.WEBHOOK_BATCH_MAX <= c.WEBHOOK_MAX_PENDING, { error: 'must be at most WEBHOOK_MAX_PENDING', path: ['WEBHOOK_BATCH_MAX'] })
  .refine((c) => c.WEBHOOK_RETRY_MIN_MS <= c.WEBHOOK_RETRY_MAX_MS, { error: 'must be at most WEBHOOK_RETRY_MAX_MS', path: ['WEBHOOK_RETRY_MIN_MS'] })
  .refine((c) => c.WEBHOOK_CHECKPOINT_MS * 10 <= c.WEBHOOK_DEDUP_WINDOW_MS, {
    error: 'must be at least 10 × WEBHOOK_CHECKPOINT_MS: a restart replays up to a checkpoint interval of events, which the window must still recognise',
    path: ['WEBHOOK_DEDUP_WINDOW_MS'],
  });

/** The variables the webhooks dispatcher reads, for docs and deployment checks. */
export { schema as webhooksEnvSchema };

export type WebhooksConfig = z.infer<typeof schema>;

export function loadWebhooksConfig(env: NodeJS.ProcessEnv = process.env): WebhooksConfig {
  return parseEnv(schema, env);
}
