import type { NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { SignalError, WEBHOOK_DEAD_PREFIX, WEBHOOK_EVENTS_PREFIX, WEBHOOK_MESSAGES_PREFIX } from '@signal/core';
import { openKvBucket, shardBucketNames, type OpenedBucket } from '@signal/presence';
import type { WebhooksConfig } from './config/webhooks-config.js';

const MS = 1_000_000;
/** JetStream: "stream name already in use with a different configuration". */
const JS_STREAM_NAME_IN_USE = 10058;


/** The buckets events are derived from, each with its log `<WEBHOOK_STREAM>_log_<kind>`. */
export const BUCKET_LOG_KINDS = ['presence', 'online', 'occupancy'] as const;
/** The logs: the three bucket mirrors, and `messages`, where gateways store client publishes (client_message). */
export const LOG_KINDS = [...BUCKET_LOG_KINDS, 'messages'] as const;
export type LogKind = (typeof LOG_KINDS)[number];

export interface WebhookLog {
  readonly kind: LogKind;
  /** `presence`, `online`, `occupancy`, `messages`, and `presence_<n>` for presence shard n (PRESENCE_SHARDS): names its stream, checkpoints and metrics. */
  readonly id: string;
  /** What it logs, for messages: a bucket, or the client messages' subjects. */
  readonly source: string;
  /** The subject prefix of its records, before the key (`$KV.<bucket>.`, `signal_webhook_messages.`). */
  readonly prefix: string;
  readonly info: StreamInfo;
}

export interface WebhookStreams {
  readonly jsm: JetStreamManager;
  /** Mirrors of the watched buckets' streams: every write, kept WEBHOOK_LOG_MAX_AGE_MS. */
  readonly logs: WebhookLog[];
  /** `<WEBHOOK_STREAM>`: derived events, `signal_webhooks.<app>.<env>.<partition>`. */
  readonly events: string;
  /** `<WEBHOOK_STREAM>_dead`: events given up on, `signal_webhooks_dead.<app>.<env>.<endpoint>`. */
  readonly dead: string;
  /** `<WEBHOOK_STREAM>_state`: the derivation's checkpoints (a KV bucket). */
  readonly state: string;
  /** `<WEBHOOK_STREAM>_leases`: which dispatcher delivers each endpoint (a KV bucket). */
  readonly leases: string;
  /** Settings of existing streams that differ from the configured ones, and watched buckets keeping too few records per key: a start-up warning. */
  readonly mismatches: string[];
}

/**
 * Creates the webhook streams where missing. Each log *mirrors* a watched bucket's KV stream:
 * the server copies every write as it happens, with its sequence and time, whether or not a
 * dispatcher runs, and keeps it for WEBHOOK_LOG_MAX_AGE_MS, while the bucket itself keeps only
 * each key's latest record. A mirror whose bucket does not exist yet starts when it appears.
 * (A mirror, not a source: nats-server 2.9 re-checks a sourced message's
 * Nats-Expected-Last-Subject-Sequence against the sourcing stream and drops every
 * compare-and-set write, which presence leaves are.)
 */
export async function openWebhookStreams(nc: NatsConnection, config: WebhooksConfig): Promise<WebhookStreams> {
  const jsm = await jetstreamManager(nc);
  const base = { num_replicas: config.WEBHOOK_REPLICAS, storage: config.WEBHOOK_STORAGE } as Partial<StreamConfig>;
  const mismatches: string[] = [];
  const name = config.WEBHOOK_STREAM;
  try {
    const logs: WebhookLog[] = [];
    for (const { kind, id, bucket } of watchedBuckets(config)) {
      const info = await ensure(jsm, mismatches, {
        ...base,
        name: `${name}_log_${id}`,
        description: `signal webhooks: every write to the ${bucket} bucket`,
        mirror: { name: `KV_${bucket}` },
        max_age: config.WEBHOOK_LOG_MAX_AGE_MS * MS,
      });
      logs.push({ kind, id, source: bucket, prefix: `$KV.${bucket}.`, info });
      await checkHistory(jsm, bucket, mismatches);
    }
    // Gateways store here what clients publish on channels that ask for client_message; bounded
    // (discard new: a gateway then refuses such publishes as unavailable) for when no dispatcher runs.
    const messages = await ensure(jsm, mismatches, {
      ...base,
      name: `${name}_log_messages`,
      description: 'signal webhooks: client messages of channels whose namespace sends them to webhooks',
      subjects: [`${WEBHOOK_MESSAGES_PREFIX}.>`],
      max_age: config.WEBHOOK_LOG_MAX_AGE_MS * MS,
      max_bytes: config.WEBHOOK_MESSAGES_MAX_BYTES,
      discard: DiscardPolicy.New,
    });
    logs.push({ kind: 'messages', id: 'messages', source: `${WEBHOOK_MESSAGES_PREFIX}.>`, prefix: `${WEBHOOK_MESSAGES_PREFIX}.`, info: messages });
    await ensure(jsm, mismatches, {
      ...base,
      name,
      description: 'signal webhooks: events to deliver',
      subjects: [`${WEBHOOK_EVENTS_PREFIX}.>`],
      // Long enough for every retry, and for an event that waited out a retry period to be dead-lettered.
      max_age: (config.WEBHOOK_RETRY_PERIOD_MS + 3_600_000) * MS,
      duplicate_window: config.WEBHOOK_DEDUP_WINDOW_MS * MS,
    });
    await ensure(jsm, mismatches, {
      ...base,
      name: `${name}_dead`,
      description: 'signal webhooks: events not delivered within WEBHOOK_RETRY_PERIOD_MS',
      subjects: [`${WEBHOOK_DEAD_PREFIX}.>`],
      max_age: config.WEBHOOK_DEAD_MAX_AGE_MS * MS,
    });
    return { jsm, logs, events: name, dead: `${name}_dead`, state: `${name}_state`, leases: `${name}_leases`, mismatches };
  } catch (cause) {
    if (cause instanceof SignalError) throw cause;
    throw new SignalError('unavailable', `cannot open the webhook streams (${name}, ${name}_log_*, ${name}_dead): ${(cause as Error).message}; NATS must run with JetStream enabled`, {
      cause,
    });
  }
}

/**
 * The endpoint leases (deliver/endpoint-leases.ts): a key lasts WEBHOOK_LEASE_MS unless rewritten,
 * and only the latest write of each counts.
 */
export function openLeaseBucket(nc: NatsConnection, bucket: string, config: Pick<WebhooksConfig, 'WEBHOOK_LEASE_MS' | 'WEBHOOK_REPLICAS'>): Promise<OpenedBucket> {
  return openKvBucket(
    nc,
    'webhook leases bucket',
    bucket,
    { history: 1, ttl: config.WEBHOOK_LEASE_MS, replicas: config.WEBHOOK_REPLICAS, storage: 'memory', description: 'signal webhooks: which dispatcher delivers each endpoint' },
    [{ setting: 'max age', actual: (s) => s.ttl, expected: config.WEBHOOK_LEASE_MS, from: 'WEBHOOK_LEASE_MS', unit: ' ms' }],
  );
}

/**
 * Every bucket events are derived from: each presence shard (a channel lives in one, so each
 * shard's log alone orders its channels' member events), the online and the occupancy bucket.
 */
export function watchedBuckets(config: Pick<WebhooksConfig, 'PRESENCE_BUCKET' | 'PRESENCE_SHARDS' | 'ONLINE_BUCKET' | 'OCCUPANCY_BUCKET'>): { kind: (typeof BUCKET_LOG_KINDS)[number]; id: string; bucket: string }[] {
  const presence = shardBucketNames(config.PRESENCE_BUCKET, config.PRESENCE_SHARDS).map((bucket, shard) => ({
    kind: 'presence' as const,
    id: shard === 0 ? 'presence' : `presence_${shard}`,
    bucket,
  }));
  return [...presence, { kind: 'online', id: 'online', bucket: config.ONLINE_BUCKET }, { kind: 'occupancy', id: 'occupancy', bucket: config.OCCUPANCY_BUCKET }];
}

/**
 * A mirror copies a write shortly after it is stored; in a bucket keeping one record per key,
 * a put deleted before that is gone, and with it a short join or connection (both its events).
 * With 4 records per key none was lost under load (docs/webhooks.md#limits-and-what-is-not-covered).
 */
const SAFE_HISTORY = 4;

async function checkHistory(jsm: JetStreamManager, bucket: string, warnings: string[]): Promise<void> {
  const history = await jsm.streams
    .info(`KV_${bucket}`)
    .then((info) => info.config.max_msgs_per_subject)
    .catch(() => undefined);
  if (history !== undefined && history < SAFE_HISTORY) {
    warnings.push(`${bucket}: history ${history}; under load a put and delete of one key can both be missed (create the bucket with history ${SAFE_HISTORY})`);
  }
}

async function ensure(jsm: JetStreamManager, mismatches: string[], config: Partial<StreamConfig> & { name: string }): Promise<StreamInfo> {
  try {
    return await jsm.streams.add(config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JS_STREAM_NAME_IN_USE) throw error;
    const info = await jsm.streams.info(config.name);
    if (info.config.num_replicas !== config.num_replicas) mismatches.push(`${config.name}: replicas ${info.config.num_replicas} (configured ${config.num_replicas})`);
    if (info.config.storage !== config.storage) mismatches.push(`${config.name}: storage ${info.config.storage} (configured ${config.storage})`);
    if (info.config.max_age !== config.max_age) mismatches.push(`${config.name}: max_age ${info.config.max_age / MS} ms (configured ${(config.max_age ?? 0) / MS} ms)`);
    return info;
  }
}
