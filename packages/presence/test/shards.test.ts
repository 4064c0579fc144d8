import { describe, expect, it } from 'vitest';
import {
  MemoryPresenceStore,
  ShardedPresenceStore,
  participantKey,
  shardBucketNames,
  shardOfChannel,
  shardOfKey,
  type ChannelRecord,
  type ParticipantValue,
} from '../src/mod.js';

/** PRESENCE_SHARDS: which bucket a channel lives in, and the store that routes to it. */
const scope = { app: 'acme', env: 'live' as const };

function participant(channel: string, route: string): ParticipantValue {
  const [node = ''] = route.split('-');
  return { channel, address: `u/web/${route}`, identity: 'u', device: 'web', node, instance: 'i1', joinedAt: Date.now() };
}

function threeShards() {
  const shards = [new MemoryPresenceStore(), new MemoryPresenceStore(), new MemoryPresenceStore()];
  return { shards, store: new ShardedPresenceStore(shards) };
}

describe('shard routing', () => {
  it('keeps the configured bucket name for shard 0, so one shard is the bucket of before', () => {
    expect(shardBucketNames('signal_presence', 1)).toEqual(['signal_presence']);
    expect(shardBucketNames('signal_presence', 3)).toEqual(['signal_presence', 'signal_presence_1', 'signal_presence_2']);
  });

  it('puts a channel and every key of it in the same shard, the same one in every process and version', () => {
    // Fixed values: a different hash would move live channels between buckets on an upgrade.
    expect(['room-1', 'room-2', 'room-3', 'lobby', 'ünïcode/ch'].map((c) => shardOfChannel(scope, c, 3))).toEqual([0, 0, 1, 2, 0]);
    for (const channel of ['room-1', 'room-2', 'lobby', 'ünïcode/ch', 'a.b']) {
      const key = participantKey(scope, channel, 'node1-abc');
      for (const count of [1, 2, 3, 7, 64]) expect(shardOfKey(key, count)).toBe(shardOfChannel(scope, channel, count));
    }
  });

  it('tells apart environments and apps with the same channel name', () => {
    const shardsOf = (s: typeof scope | { app: string; env: 'test' | 'live' }) => Array.from({ length: 20 }, (_, i) => shardOfChannel(s, `c${i}`, 4));
    expect(shardsOf(scope)).not.toEqual(shardsOf({ app: 'acme', env: 'test' }));
    expect(shardsOf(scope)).not.toEqual(shardsOf({ app: 'other', env: 'live' }));
  });

  it('spreads channels evenly enough over the shards', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOfChannel(scope, `channel-${i}`, 4)]!++;
    for (const n of counts) expect(n).toBeGreaterThan(850);
  });
});

describe('ShardedPresenceStore on three in-memory stores', () => {
  it("writes, reads and follows a channel in its shard only, in that shard's order", async () => {
    const { shards, store } = threeShards();
    const channel = 'room-2';
    const home = shards[shardOfChannel(scope, channel, 3)]!;
    const records: ChannelRecord[] = [];
    const feed = store.follow(scope, channel, { record: (record) => records.push(record) });
    await feed.ready();
    const key = store.keyOf(scope, channel, 'nodea-1');
    const rev = await store.put(key, participant(channel, 'nodea-1'));
    const removedAt = await store.remove(key, rev);
    expect(await home.readChannel(scope, channel)).toEqual([{ present: false, key, revision: removedAt }]);
    for (const other of shards.filter((s) => s !== home)) expect(await other.allEntries()).toEqual([]);
    while (records.length < 2) await new Promise((resolve) => setImmediate(resolve));
    expect(records.map((r) => (r.present ? r.participant.revision : r.revision))).toEqual([rev, removedAt]);
    feed.close();
  });

  it("gathers a node's entries, every entry and old delete markers from every shard", async () => {
    const { shards, store } = threeShards();
    const channels = Array.from({ length: 12 }, (_, i) => `ch-${i}`);
    for (const channel of channels) {
      await store.put(store.keyOf(scope, channel, 'nodea-1'), participant(channel, 'nodea-1'));
      const key = store.keyOf(scope, channel, 'nodeb-2');
      await store.remove(key, await store.put(key, participant(channel, 'nodeb-2')));
    }
    // The channels landed in every shard.
    for (const shard of shards) expect((await shard.allEntries()).length).toBeGreaterThan(0);
    expect((await store.entriesOfNode('nodea')).map((e) => e.channel).sort()).toEqual([...channels].sort());
    expect(await store.entriesOfNode('nodeb')).toEqual([]);
    expect((await store.allEntries()).length).toBe(12);
    expect(await store.purgeRemoved(0)).toBe(12);
    for (const channel of channels) expect((await store.readChannel(scope, channel)).length).toBe(1);
  });
});
