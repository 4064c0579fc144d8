import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENTRY_OVERHEAD_BYTES,
  JetStreamPresenceStore,
  MemoryPresenceStore,
  RevisionConflict,
  ShardedPresenceStore,
  jetStreamPresenceStore,
  openPresenceBuckets,
  type ChannelRecord,
  type ParticipantValue,
  type PresenceStore,
} from '../src/mod.js';

/**
 * The same behaviour from both PresenceStore implementations: the in-memory twin that the
 * gateway's unit tests run on must not drift from the JetStream store the services run on.
 */
let nats: NatsServer;
let nc: NatsConnection;
const BUCKET = 'presence_contract';
const scope = { app: 'acme', env: 'test' as const };
const stores: Record<string, () => PresenceStore> = {};

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  const buckets = await openPresenceBuckets(nc, { bucket: BUCKET, replicas: 1, storage: 'memory', maxBytes: 64 * 1024 * 1024, maxValueBytes: 1024 + ENTRY_OVERHEAD_BYTES, retryDeadlineMs: 0 });
  const jetstream = new JetStreamPresenceStore(nc, buckets.shards[0]!.kv, BUCKET);
  stores.jetstream = () => jetstream;
  const memory = new MemoryPresenceStore();
  stores.memory = () => memory;
  // PRESENCE_SHARDS=3: the same contract, each channel in one of three buckets.
  const sharded = await openPresenceBuckets(nc, { bucket: `${BUCKET}_sharded`, shards: 3, replicas: 1, storage: 'memory', maxBytes: 64 * 1024 * 1024, maxValueBytes: 1024 + ENTRY_OVERHEAD_BYTES, retryDeadlineMs: 0 });
  const shardedJetStream = jetStreamPresenceStore(nc, sharded.shards);
  stores['sharded jetstream'] = () => shardedJetStream;
  const shardedMemory = new ShardedPresenceStore([new MemoryPresenceStore(), new MemoryPresenceStore(), new MemoryPresenceStore()]);
  stores['sharded memory'] = () => shardedMemory;
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

function participant(channel: string, route: string, state?: unknown): ParticipantValue {
  const [node = ''] = route.split('-');
  return { channel, address: `u${route}/web/${route}`, identity: `u${route}`, device: 'web', node, instance: 'i1', joinedAt: Date.now(), ...(state === undefined ? {} : { state }) };
}

const revisionOf = (r: ChannelRecord) => (r.present ? r.participant.revision : r.revision);
const describeRecord = (r: ChannelRecord) => (r.present ? `+${r.participant.address}@${JSON.stringify(r.participant.state ?? null)}` : `-${r.key}`);

/** Collects a feed's records until `count` arrived. */
function collect(store: PresenceStore, channel: string) {
  const records: { record: ChannelRecord; initial: boolean }[] = [];
  const feed = store.follow(scope, channel, { record: (record, initial) => records.push({ record, initial }) });
  const until = async (count: number, timeoutMs = 5000) => {
    const deadline = performance.now() + timeoutMs;
    while (records.length < count && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(records.length).toBe(count);
  };
  return { records, feed, until };
}

describe.each(['memory', 'jetstream', 'sharded memory', 'sharded jetstream'])('PresenceStore contract: %s', (name) => {
  const store = () => stores[name]!();
  const channel = (what: string) => `${name.replace(' ', '-')}-${what}`;

  it('numbers writes with increasing revisions and refuses a write at a stale revision', async () => {
    const ch = channel('cas');
    const key = store().keyOf(scope, ch, 'nodeaa-1');
    const first = await store().put(key, participant(ch, 'nodeaa-1', 1));
    const second = await store().update(key, participant(ch, 'nodeaa-1', 2), first);
    expect(second).toBeGreaterThan(first);
    await expect(store().update(key, participant(ch, 'nodeaa-1', 3), first)).rejects.toBeInstanceOf(RevisionConflict);
    await expect(store().remove(key, first)).rejects.toBeInstanceOf(RevisionConflict);
    const removedAt = await store().remove(key, second);
    expect(removedAt).toBeGreaterThan(second);
    expect(await store().readChannel(scope, ch)).toEqual([{ present: false, key, revision: removedAt }]);
    expect(await store().participants(scope, ch)).toEqual([]);
  });

  it('lists a channel earliest joiner first, and the entries of one node', async () => {
    const ch = channel('list');
    for (const [route, joinedAt] of [['nodebb-2', 20], ['nodecc-1', 10], ['nodebb-3', 30]] as const) {
      await store().put(store().keyOf(scope, ch, route), { ...participant(ch, route), joinedAt });
    }
    expect((await store().participants(scope, ch)).map((p) => p.address)).toEqual(['unodecc-1/web/nodecc-1', 'unodebb-2/web/nodebb-2', 'unodebb-3/web/nodebb-3']);
    expect((await store().entriesOfNode('nodebb')).map((p) => p.address).sort()).toEqual(['unodebb-2/web/nodebb-2', 'unodebb-3/web/nodebb-3']);
  });

  it('feeds a channel: its latest records first (initial), then every write in order, nothing of other channels', async () => {
    const ch = channel('feed');
    const a = store().keyOf(scope, ch, 'nodedd-1');
    const at = await store().put(a, participant(ch, 'nodedd-1', 'x'));
    const followed = collect(store(), ch);
    await followed.feed.ready();
    expect(followed.records.map((r) => [describeRecord(r.record), r.initial])).toEqual([['+unodedd-1/web/nodedd-1@"x"', true]]);
    const b = store().keyOf(scope, ch, 'nodedd-2');
    const bAt = await store().put(b, participant(ch, 'nodedd-2'));
    await store().put(store().keyOf(scope, channel('other'), 'nodedd-3'), participant(channel('other'), 'nodedd-3'));
    await store().update(a, participant(ch, 'nodedd-1', 'y'), at);
    await store().remove(b, bAt);
    await followed.until(4);
    expect(followed.records.slice(1).map((r) => [describeRecord(r.record), r.initial])).toEqual([
      ['+unodedd-2/web/nodedd-2@null', false],
      ['+unodedd-1/web/nodedd-1@"y"', false],
      [`-${b}`, false],
    ]);
    const revisions = followed.records.map((r) => revisionOf(r.record));
    expect([...revisions].sort((x, y) => x - y)).toEqual(revisions);
    followed.feed.close();
  });

  it('reopened, a feed delivers the channel again from its latest records', async () => {
    const ch = channel('reopen');
    await store().put(store().keyOf(scope, ch, 'nodeee-1'), participant(ch, 'nodeee-1'));
    const followed = collect(store(), ch);
    await followed.feed.ready();
    followed.feed.reopen();
    await followed.feed.ready();
    await followed.until(2);
    expect(followed.records.map((r) => [describeRecord(r.record), r.initial])).toEqual([
      ['+unodeee-1/web/nodeee-1@null', true],
      ['+unodeee-1/web/nodeee-1@null', true],
    ]);
    followed.feed.close();
  });
});

describe('JetStream channel feed', () => {
  it('notices its consumer was deleted on the server and opens again, with the writes made meanwhile', async () => {
    const store = stores.jetstream!();
    const ch = 'lost-consumer';
    const followed = collect(store, ch);
    await followed.feed.ready();
    const list = await nc.request(`$JS.API.CONSUMER.LIST.KV_${BUCKET}`, JSON.stringify({ offset: 0 }));
    const consumers = list.json<{ consumers: { name: string; config: { filter_subject?: string } }[] }>().consumers;
    const ours = consumers.filter((c) => c.config.filter_subject?.includes(ch));
    expect(ours).toHaveLength(1);
    await nc.request(`$JS.API.CONSUMER.DELETE.KV_${BUCKET}.${ours[0]!.name}`);
    await store.put(store.keyOf(scope, ch, 'nodeff-1'), participant(ch, 'nodeff-1'));
    // Silence for three heartbeats (6 s), then a new read brings the write.
    await followed.until(1, 12_000);
    expect(followed.records.map((r) => [describeRecord(r.record), r.initial])).toEqual([['+unodeff-1/web/nodeff-1@null', true]]);
    followed.feed.close();
  }, 15_000);
});
