import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { openKvBucket } from '../kv/open-bucket.js';
import type { RevocationStoreSettings } from './revocation-config.js';

export interface RevocationBucket {
  readonly kv: KV;
  /**
   * How long the bucket keeps an entry (its max_age), as it exists: entries vanish then without
   * a delete marker, so watchers forget them after this long on their own.
   */
  readonly maxAgeMs: number;
  /** Differences between the configured and the existing bucket settings, for a start-up warning. */
  readonly mismatches: string[];
}

/**
 * Opens the revocation bucket, creating it when missing. nats-server 2.9 has no per-key TTL, so
 * the whole bucket has one max_age: MAX_TOKEN_TTL_SECONDS, the longest life of any token an entry
 * can cover (a token revoked at T was issued before T, so it expires before T + that). History 1:
 * a user's newer revocation replaces the older one. An existing bucket is used as it is.
 */
export async function openRevocationBucket(nc: NatsConnection, settings: RevocationStoreSettings): Promise<RevocationBucket> {
  const { kv, status, mismatches } = await openKvBucket(
    nc,
    'revocation bucket',
    settings.bucket,
    {
      history: 1,
      replicas: settings.replicas,
      storage: settings.storage,
      max_bytes: settings.maxBytes,
      ttl: settings.maxAgeMs,
      description: 'signal revocations: revoked token ids and users, each until every token it covers has expired',
    },
    [
      { setting: 'max_age', actual: (s) => s.ttl, expected: settings.maxAgeMs, from: 'MAX_TOKEN_TTL_SECONDS', unit: ' ms' },
      { setting: 'replicas', actual: (s) => s.replicas, expected: settings.replicas, from: 'REVOCATION_REPLICAS' },
      { setting: 'storage', actual: (s) => s.storage, expected: settings.storage, from: 'REVOCATION_STORAGE' },
      { setting: 'max_bytes', actual: (s) => s.max_bytes, expected: settings.maxBytes, from: 'REVOCATION_MAX_BYTES' },
    ],
    'NATS must run with JetStream enabled (nats-server -js), with file storage unless REVOCATION_STORAGE=memory',
  );
  // A bucket without max_age would keep entries forever; watchers then keep them for MAX_TOKEN_TTL_SECONDS.
  return { kv, maxAgeMs: status.ttl > 0 ? status.ttl : settings.maxAgeMs, mismatches };
}
