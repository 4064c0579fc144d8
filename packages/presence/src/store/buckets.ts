import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { SignalError } from '@signal/core';
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
  const kvm = new Kvm(jetstream(nc));
  const options = { history: 1, replicas: settings.replicas, storage: settings.storage };
  const names = shardBucketNames(settings.bucket, settings.shards ?? 1);
  try {
    const shards: PresenceShard[] = [];
    const mismatches: string[] = [];
    for (const bucket of names) {
      const kv = await kvm.create(bucket, {
        ...options,
        max_bytes: settings.maxBytes,
        maxValueSize: settings.maxValueBytes,
        description: 'signal presence: one key per participant',
      });
      shards.push({ bucket, kv });
      const status = await kv.status();
      const differ = (what: string) => mismatches.push(names.length > 1 ? `${bucket}: ${what}` : what);
      if (status.replicas !== settings.replicas) differ(`replicas ${status.replicas} (configured ${settings.replicas})`);
      if (status.storage !== settings.storage) differ(`storage ${status.storage} (configured ${settings.storage})`);
      if (status.max_bytes !== settings.maxBytes) differ(`max_bytes ${status.max_bytes} (configured ${settings.maxBytes}, PRESENCE_MAX_BYTES)`);
      if (status.maxValueSize !== settings.maxValueBytes) differ(`max value size ${status.maxValueSize} (configured ${settings.maxValueBytes}, from PRESENCE_MAX_STATE_BYTES)`);
    }
    const nodes = await kvm.create(`${settings.bucket}_nodes`, { ...options, description: 'signal presence: gateway heartbeats' });
    return { shards, nodes, mismatches };
  } catch (cause) {
    throw new SignalError(
      'unavailable',
      `cannot open the presence buckets ${names.map((n) => `'${n}'`).join(', ')} and '${settings.bucket}_nodes': ${(cause as Error).message}; ` +
        'NATS must run with JetStream enabled (nats-server -js)',
      { cause },
    );
  }
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
