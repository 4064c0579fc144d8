import type { Scope } from '@signal/core';
import type { ParticipantValue, StoredParticipant } from './participant-entry.js';
import type { ChannelFeed, ChannelRecord, FeedListener, PresenceStore } from './presence-store.js';
import { shardOfChannel, shardOfKey } from './shards.js';

/**
 * Presence over several stores (one KV bucket each, PRESENCE_SHARDS): what concerns a channel
 * (its entries' writes, its reads and feed) goes to the channel's shard; what concerns a node
 * or everything (a sweep, the audit, the janitor) asks every shard. Revisions are each
 * shard's own, which is enough: they are only ever compared within one channel, and a
 * channel lives in one shard.
 */
export class ShardedPresenceStore implements PresenceStore {
  constructor(private readonly shards: readonly PresenceStore[]) {
    if (shards.length === 0) throw new RangeError('a sharded presence store needs at least one shard');
  }

  get count(): number {
    return this.shards.length;
  }

  keyOf(scope: Scope, channel: string, route: string): string {
    return this.shards[0]!.keyOf(scope, channel, route);
  }

  put(key: string, value: ParticipantValue): Promise<number> {
    return this.byKey(key).put(key, value);
  }

  update(key: string, value: ParticipantValue, revision: number): Promise<number> {
    return this.byKey(key).update(key, value, revision);
  }

  remove(key: string, revision: number, sweptBy?: string): Promise<number> {
    return this.byKey(key).remove(key, revision, sweptBy);
  }

  readChannel(scope: Scope, channel: string): Promise<ChannelRecord[]> {
    return this.byChannel(scope, channel).readChannel(scope, channel);
  }

  follow(scope: Scope, channel: string, listener: FeedListener): ChannelFeed {
    return this.byChannel(scope, channel).follow(scope, channel, listener);
  }

  participants(scope: Scope, channel: string): Promise<StoredParticipant[]> {
    return this.byChannel(scope, channel).participants(scope, channel);
  }

  async entriesOfNode(node: string): Promise<StoredParticipant[]> {
    return (await Promise.all(this.shards.map((shard) => shard.entriesOfNode(node)))).flat();
  }

  async allEntries(): Promise<StoredParticipant[]> {
    return (await Promise.all(this.shards.map((shard) => shard.allEntries()))).flat();
  }

  async purgeRemoved(olderThanMs: number): Promise<number> {
    let purged = 0;
    // One shard after the other: each pass already keeps 64 purges in flight.
    for (const shard of this.shards) purged += await shard.purgeRemoved(olderThanMs);
    return purged;
  }

  private byKey(key: string): PresenceStore {
    return this.shards[shardOfKey(key, this.shards.length)]!;
  }

  private byChannel(scope: Scope, channel: string): PresenceStore {
    return this.shards[shardOfChannel(scope, channel, this.shards.length)]!;
  }
}
