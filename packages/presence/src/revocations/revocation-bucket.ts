import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { SignalError } from '@signal/core';
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
  const kvm = new Kvm(jetstream(nc));
  try {
    const kv = await kvm.create(settings.bucket, {
      history: 1,
      replicas: settings.replicas,
      storage: settings.storage,
      max_bytes: settings.maxBytes,
      ttl: settings.maxAgeMs,
      description: 'signal revocations: revoked token ids and users, each until every token it covers has expired',
    });
    const status = await kv.status();
    const mismatches: string[] = [];
    if (status.ttl !== settings.maxAgeMs) mismatches.push(`max_age ${status.ttl} ms (configured ${settings.maxAgeMs} ms, MAX_TOKEN_TTL_SECONDS)`);
    if (status.replicas !== settings.replicas) mismatches.push(`replicas ${status.replicas} (configured ${settings.replicas}, REVOCATION_REPLICAS)`);
    if (status.storage !== settings.storage) mismatches.push(`storage ${status.storage} (configured ${settings.storage}, REVOCATION_STORAGE)`);
    if (status.max_bytes !== settings.maxBytes) mismatches.push(`max_bytes ${status.max_bytes} (configured ${settings.maxBytes}, REVOCATION_MAX_BYTES)`);
    // A bucket without max_age would keep entries forever; watchers then keep them for MAX_TOKEN_TTL_SECONDS.
    return { kv, maxAgeMs: status.ttl > 0 ? status.ttl : settings.maxAgeMs, mismatches };
  } catch (cause) {
    throw new SignalError(
      'unavailable',
      `cannot open the revocation bucket '${settings.bucket}': ${(cause as Error).message}; NATS must run with JetStream enabled (nats-server -js), with file storage unless REVOCATION_STORAGE=memory`,
      { cause },
    );
  }
}
