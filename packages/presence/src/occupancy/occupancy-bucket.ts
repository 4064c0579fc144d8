import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { openKvBucket } from '../kv/open-bucket.js';
import type { OccupancySettings } from './occupancy-config.js';
import { MAX_OCCUPANCY_VALUE_BYTES } from './occupancy-entry.js';

/**
 * How long the bucket keeps a record (its max_age). nats-server 2.9 has no per-key TTL; with a
 * bucket-wide age, delete markers of channels nobody uses any more go away by themselves, and
 * gateways rewrite their live keys every OCCUPANCY_REFRESH_MS so those never age out.
 */
export const OCCUPANCY_MAX_AGE_MS = 60 * 60 * 1000;
/** A live key is rewritten after this long without a change (a third of the max age). */
export const OCCUPANCY_REFRESH_MS = OCCUPANCY_MAX_AGE_MS / 3;

export interface OccupancyBucket {
  readonly kv: KV;
  /** Differences between the configured and the existing bucket settings, for a start-up warning. */
  readonly mismatches: string[];
}

/**
 * Opens the occupancy bucket, creating it when missing. History 1: only a gateway's latest
 * counts matter, and a delete marker replaces them. An existing bucket is used as it is.
 */
export async function openOccupancyBucket(nc: NatsConnection, settings: OccupancySettings): Promise<OccupancyBucket> {
  const { kv, mismatches } = await openKvBucket(
    nc,
    'occupancy bucket',
    settings.bucket,
    {
      history: 1,
      replicas: settings.replicas,
      storage: settings.storage,
      ttl: OCCUPANCY_MAX_AGE_MS,
      maxValueSize: MAX_OCCUPANCY_VALUE_BYTES,
      description: 'signal occupancy: connections and participants per channel per gateway',
    },
    [
      { setting: 'replicas', actual: (s) => s.replicas, expected: settings.replicas, from: 'PRESENCE_REPLICAS' },
      { setting: 'storage', actual: (s) => s.storage, expected: settings.storage, from: 'PRESENCE_STORAGE' },
      { setting: 'max_age', actual: (s) => s.ttl, expected: OCCUPANCY_MAX_AGE_MS, label: 'expected', unit: ' ms' },
    ],
  );
  return { kv, mismatches };
}
