import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { openKvBucket } from '../kv/open-bucket.js';
import type { PresenceStoreSettings } from '../config/presence-config.js';
import { requireJetStream, waitAtStart, type StartLog } from '../faults/wait-at-start.js';
import { shardBucketNames } from './shards.js';

/** One participants bucket (PRESENCE_SHARDS of them, see shards.ts). */
export interface PresenceShard {
  readonly bucket: string;
  readonly kv: KV;
}

export interface PresenceBuckets {
  /** The participants buckets, shard 0 first. */
  readonly shards: readonly PresenceShard[];
  readonly nodes: KV;
  /** Differences between the configured and the existing bucket settings, for a start-up warning. */
  readonly mismatches: string[];
}

/**
 * Opens the participants buckets (one per shard) and the heartbeat bucket, creating them when missing. History 1: only the latest state of a
 * participant matters, and delete markers replace the value they delete. The participants
 * bucket is bounded (PRESENCE_MAX_BYTES, and values by PRESENCE_MAX_STATE_BYTES): when full it
 * refuses new keys, while updates and deletes of existing keys still go through, so a full
 * bucket stops joins but never leaves. An existing
 * bucket is used as it is (changing replicas of a live bucket is an operator's decision),
 * but differences are reported.
 */
export async function openPresenceBuckets(nc: NatsConnection, settings: PresenceStoreSettings): Promise<PresenceBuckets> {
  const options = { history: 1, replicas: settings.replicas, storage: settings.storage };
  const names = shardBucketNames(settings.bucket, settings.shards ?? 1);
  const shards: PresenceShard[] = [];
  const mismatches: string[] = [];
  for (const bucket of names) {
    const opened = await openKvBucket(
      nc,
      'presence bucket',
      bucket,
      { ...options, max_bytes: settings.maxBytes, maxValueSize: settings.maxValueBytes, description: 'signal presence: one key per participant' },
      [
        { setting: 'replicas', actual: (s) => s.replicas, expected: settings.replicas },
        { setting: 'storage', actual: (s) => s.storage, expected: settings.storage },
        { setting: 'max_bytes', actual: (s) => s.max_bytes, expected: settings.maxBytes, from: 'PRESENCE_MAX_BYTES' },
        { setting: 'max value size', actual: (s) => s.maxValueSize, expected: settings.maxValueBytes, from: 'from PRESENCE_MAX_STATE_BYTES' },
      ],
    );
    shards.push({ bucket, kv: opened.kv });
    mismatches.push(...opened.mismatches.map((what) => (names.length > 1 ? `${bucket}: ${what}` : what)));
  }
  const nodes = await openKvBucket(nc, 'presence heartbeat bucket', `${settings.bucket}_nodes`, { ...options, description: 'signal presence: gateway heartbeats' }, []);
  return { shards, nodes: nodes.kv, mismatches };
}

/**
 * The presence buckets at a service's start: a server without JetStream stops it at once, while
 * a fresh NATS cluster still electing leaders is waited out (not ready) instead of exiting.
 */
export function openPresenceBucketsAtStart(nc: NatsConnection, settings: PresenceStoreSettings, log: StartLog): Promise<PresenceBuckets> {
  return waitAtStart(
    'the presence buckets',
    async () => {
      await requireJetStream(nc);
      return openPresenceBuckets(nc, settings);
    },
    log,
  );
}
