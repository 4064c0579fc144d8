import { encodeToken, type Scope } from '@signal/core';

/**
 * Presence sharded over several KV buckets (PRESENCE_SHARDS): each bucket is one JetStream
 * stream with its own leader, so the cluster's presence writes, and the feeds every write is
 * checked against, are divided among them. A channel lives in exactly one shard, chosen by a
 * stable hash of `<app>.<env>.<channel token>` (the first three tokens of its keys), so a
 * channel's records keep one store order and revisions stay comparable within it.
 */

/** Shard 0 keeps the configured name, so a deployment that never set PRESENCE_SHARDS keeps its bucket and data. */
export function shardBucketName(base: string, index: number): string {
  return index === 0 ? base : `${base}_${index}`;
}

export function shardBucketNames(base: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => shardBucketName(base, index));
}

/** The shard of a channel. */
export function shardOfChannel(scope: Scope, channel: string, count: number): number {
  return count === 1 ? 0 : fnv1a(`${scope.app}.${scope.env}.${encodeToken(channel)}`) % count;
}

/** The shard of a participant key (`<app>.<env>.<channel token>.<node>.<connection>`): its channel's. */
export function shardOfKey(key: string, count: number): number {
  if (count === 1) return 0;
  const third = key.indexOf('.', key.indexOf('.', key.indexOf('.') + 1) + 1);
  return fnv1a(third < 0 ? key : key.slice(0, third)) % count;
}

/**
 * 32-bit FNV-1a over the string's UTF-16 code units (keys are ASCII: `encodeToken` output and
 * app/env ids). Fixed here, not a library's: every service and version must map a channel to
 * the same shard (docs/presence.md#sharding).
 */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
