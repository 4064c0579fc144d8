import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeEnvelope, type Envelope } from '@signal/core';
import { startNats, type NatsServer } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENTRY_OVERHEAD_BYTES,
  LivenessWatch,
  type EntryGuard,
  JetStreamPresenceStore,
  RevisionConflict,
  Sweeper,
  openPresenceBuckets,
  participantKey,
  readLatest,
  type ParticipantValue,
  type PresenceBuckets,
} from '../src/mod.js';

let nats: NatsServer;
let nc: NatsConnection;
let buckets: PresenceBuckets;
let store: JetStreamPresenceStore;
const BUCKET = 'presence_test';
const LIMITS = { maxBytes: 64 * 1024 * 1024, maxValueBytes: 1024 + ENTRY_OVERHEAD_BYTES, retryDeadlineMs: 0 };
const scope = { app: 'acme', env: 'test' as const };

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  buckets = await openPresenceBuckets(nc, { ...LIMITS, bucket: BUCKET, replicas: 1, storage: 'memory' });
  store = new JetStreamPresenceStore(nc, buckets.shards[0]!.kv, BUCKET);
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

function participant(channel: string, route: string, extra: Partial<ParticipantValue> = {}): ParticipantValue {
  const [node = ''] = route.split('-');
  return { channel, address: `u-${route}/web/${route}`, identity: `u-${route}`, device: 'web', node, instance: 'inst1', joinedAt: Date.now(), ...extra };
}

describe('presence store on a real JetStream', () => {
  it('keys any channel name into valid KV keys, one channel per prefix', async () => {
    const odd = 'a.b*c>d e/✓_%';
    const k1 = participantKey(scope, odd, 'nodeaa-1');
    const k2 = participantKey(scope, 'a', 'nodeaa-1');
    await store.put(k1, participant(odd, 'nodeaa-1'));
    await store.put(k2, participant('a', 'nodeaa-1'));
    expect((await store.participants(scope, odd)).map((p) => p.channel)).toEqual([odd]);
    expect((await store.participants(scope, 'a')).map((p) => p.channel)).toEqual(['a']);
    expect(await store.participants({ app: 'acme', env: 'live' }, 'a')).toEqual([]);
  });

  it('reads a large channel in one go, removed keys included with their revisions', async () => {
    const routes = Array.from({ length: 1500 }, (_, i) => `nodebb-${i.toString(36)}`);
    const revisions = await Promise.all(routes.map((r) => store.put(participantKey(scope, 'big', r), participant('big', r))));
    const removedAt = await store.remove(participantKey(scope, 'big', routes[7]!), revisions[7]!);
    expect(removedAt).toBeGreaterThan(revisions[7]!);
    const records = await store.readChannel(scope, 'big');
    expect(records).toHaveLength(1500);
    expect(records.filter((r) => r.present)).toHaveLength(1499);
    expect(records.find((r) => !r.present)).toEqual({ present: false, key: participantKey(scope, 'big', routes[7]!), revision: removedAt });
    expect(await readLatest(nc, BUCKET, 'acme.test.nothing-here.*.*', 2000)).toEqual([]);
  });

  it('removes and rewrites only at the revision last seen', async () => {
    const key = participantKey(scope, 'cas', 'nodecc-1');
    const first = await store.put(key, participant('cas', 'nodecc-1'));
    const second = await store.update(key, participant('cas', 'nodecc-1', { state: 1 }), first);
    await expect(store.update(key, participant('cas', 'nodecc-1', { state: 2 }), first)).rejects.toBeInstanceOf(RevisionConflict);
    await expect(store.remove(key, first)).rejects.toBeInstanceOf(RevisionConflict);
    expect((await store.participants(scope, 'cas'))[0]).toMatchObject({ state: 1, revision: second });
    await store.remove(key, second);
    expect(await store.participants(scope, 'cas')).toEqual([]);
  });

  it('purges old delete markers, but never a value written after one', async () => {
    const gone = participantKey(scope, 'purge', 'nodedd-1');
    const back = participantKey(scope, 'purge', 'nodedd-2');
    await store.remove(gone, await store.put(gone, participant('purge', 'nodedd-1')));
    await store.remove(back, await store.put(back, participant('purge', 'nodedd-2')));
    await store.put(back, participant('purge', 'nodedd-2', { state: 'again' }));
    expect(await store.purgeRemoved(0)).toBeGreaterThan(0);
    const records = await store.readChannel(scope, 'purge');
    expect(records).toEqual([{ present: true, participant: expect.objectContaining({ key: back, state: 'again' }) }]);
  });

  it('purges every marker churn left, many at a time, in one pass, page by page, and only markers old enough', async () => {
    // Every leave is a marker; a pass that purged fewer than churn leaves let them pile up.
    // 1,300 markers with participants still present among them: three pages of the janitor's read.
    const routes = Array.from({ length: 1300 }, (_, i) => `nodeff-${i.toString(36)}`);
    const stay = routes.filter((_, i) => i % 100 === 0);
    await Promise.all(
      routes.map(async (r) => {
        const key = participantKey(scope, 'churned', r);
        const revision = await store.put(key, participant('churned', r));
        if (!stay.includes(r)) await store.remove(key, revision);
      }),
    );
    expect(await store.readChannel(scope, 'churned')).toHaveLength(1300);
    // Younger than a minute: kept (a leave may still be in flight somewhere).
    expect(await store.purgeRemoved(60_000)).toBe(0);
    expect(await store.readChannel(scope, 'churned')).toHaveLength(1300);
    expect(await store.purgeRemoved(0)).toBeGreaterThanOrEqual(1300 - stay.length);
    const left = await store.readChannel(scope, 'churned');
    expect(left.map((r) => r.present)).toEqual(stay.map(() => true));
    expect((await store.participants(scope, 'churned')).map((p) => p.address).sort()).toEqual(stay.map((r) => participant('churned', r).address).sort());
  });
});

/** The gateway passes its MessageGuard; here an exception from a handler should fail the test. */
const unguarded: EntryGuard = { wrap: (_source, handler) => handler, drop: () => undefined };

describe('sweeping a dead node', () => {
  it('lets exactly one of two sweepers claim it, removes only that process’s entries and announces each leave', async () => {
    const dead = 'nodeee';
    const nodes = buckets.nodes;
    await nodes.put(dead, JSON.stringify({ node: dead, instance: 'old', beatAt: 0 }));
    const watch = new LivenessWatch(nodes, unguarded);
    await watch.start();
    await waitFor(() => watch.get(dead) !== undefined);
    const observed = watch.get(dead)!;

    const mine = [1, 2, 3].map((n) => participantKey(scope, 'swept', `${dead}-${n}`));
    await Promise.all(mine.map((k, n) => store.put(k, participant('swept', `${dead}-${n + 1}`, { instance: 'old' }))));
    const newer = participantKey(scope, 'swept', `${dead}-9`);
    await store.put(newer, participant('swept', `${dead}-9`, { instance: 'new' }));

    const leaves: Envelope[] = [];
    const sub = nc.subscribe('sig.acme.test.ch.swept', {
      callback: (_e, m) => {
        leaves.push(decodeEnvelope(m.data)!);
      },
    });
    await nc.flush();
    const one = new Sweeper(nc, store, nodes, 'nodeff');
    const two = new Sweeper(nc, store, nodes, 'nodegg');
    const claims = await Promise.all([one.claim(observed), two.claim(observed)]);
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    const winner = claims[0] !== undefined ? one : two;
    expect(await winner.sweepClaimed(observed, claims.find((c) => c !== undefined)!)).toBe(3);

    expect((await store.participants(scope, 'swept')).map((p) => p.key)).toEqual([newer]);
    expect(await nodes.get(dead)).toMatchObject({ operation: 'DEL' });
    await nc.flush();
    await waitFor(() => leaves.length === 3);
    expect(leaves.map((l) => l.t)).toEqual(['leave', 'leave', 'leave']);
    expect(leaves.every((l) => l.t === 'leave' && typeof l.rev === 'number')).toBe(true);
    sub.unsubscribe();
    watch.stop();
  });

  it('removes orphaned entries only once they were seen orphaned twice, unchanged', async () => {
    const orphan = participantKey(scope, 'orphans', 'nodehh-1');
    const live = participantKey(scope, 'orphans', 'nodeii-1');
    await store.put(orphan, participant('orphans', 'nodehh-1'));
    await store.put(live, participant('orphans', 'nodeii-1'));
    const sweeper = new Sweeper(nc, store, buckets.nodes, 'nodeii');
    const alive = new Map([['nodeii', 'inst1']]);
    const first = await sweeper.sweepOrphans(alive, new Set());
    expect(first.removed).toBe(0);
    expect([...first.orphans].some((o) => o.startsWith(orphan))).toBe(true);
    const second = await sweeper.sweepOrphans(alive, first.orphans);
    expect(second.removed).toBeGreaterThanOrEqual(1);
    expect((await store.participants(scope, 'orphans')).map((p) => p.key)).toEqual([live]);
  });

  it('reports an existing bucket whose settings differ from the configured ones', async () => {
    const again = await openPresenceBuckets(nc, { ...LIMITS, bucket: BUCKET, replicas: 1, storage: 'file' });
    expect(again.mismatches).toEqual(['storage memory (configured file)']);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
