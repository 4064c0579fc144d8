import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNats, type NatsServer } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarkerPurge, onlineKey, openOnlineBucket, type KV } from '../src/mod.js';

let nats: NatsServer;
let nc: NatsConnection;
let kv: KV;
const BUCKET = 'online_purge_test';
const scope = { app: 'acme', env: 'test' as const };

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  // The online bucket keeps 4 records per key: a marker's purge must take the older ones too.
  kv = await openOnlineBucket(nc, { bucket: BUCKET, replicas: 1, storage: 'memory' });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const key = (identity: string) => onlineKey(scope, identity, 'node1');

async function streamState(): Promise<{ messages: number; subjects: number }> {
  const info = await (await jetstreamManager(nc)).streams.info(`KV_${BUCKET}`);
  return { messages: info.state.messages, subjects: info.state.num_subjects ?? 0 };
}

describe('MarkerPurge on a bucket keeping several records per key', () => {
  it('drops old markers with their keys’ older records, keeps live keys and what was written after a marker', async () => {
    const identities = Array.from({ length: 700 }, (_, i) => `user-${i}`);
    // Connected then gone: put, delete. Every tenth comes back after its delete: put, delete, put.
    // Every seventh never left: one put.
    for (const [i, identity] of identities.entries()) {
      await kv.put(key(identity), '{}');
      if (i % 7 === 0) continue;
      await kv.delete(key(identity));
      if (i % 10 === 0) await kv.put(key(identity), '{"back":true}');
    }
    const live = identities.filter((_, i) => i % 7 === 0 || i % 10 === 0);
    const before = await streamState();
    expect(before.subjects).toBe(identities.length);

    const purge = new MarkerPurge(nc, BUCKET);
    // Younger than the cutoff: kept (a mirror, a late reader may still need them).
    expect(await purge.purge(60_000)).toBe(0);
    expect(await streamState()).toEqual(before);

    const purged = await purge.purge(0);
    // Each gone identity: its put and its marker; each that came back: the same, its last put stays.
    expect(purged).toBe(before.messages - live.length);
    expect(await streamState()).toEqual({ messages: live.length, subjects: live.length });
    for (const [i, identity] of identities.entries()) {
      const entry = await kv.get(key(identity));
      if (i % 7 === 0) expect(entry?.string()).toBe('{}');
      else if (i % 10 === 0) expect(entry?.json()).toEqual({ back: true });
      else expect(entry).toBeNull();
    }
    // Nothing left to purge: a second pass is a no-op.
    expect(await purge.purge(0)).toBe(0);
  });

  it('a pass starts where the last one stopped, and still finds the markers of keys written before that point', async () => {
    const purge = new MarkerPurge(nc, BUCKET);
    await purge.purge(0);
    const early = key('early-bird');
    await kv.put(early, '{}');
    await purge.purge(0);
    // Deleted after the pass that went by its put: its marker is at the end, with the put before it.
    await kv.delete(early);
    for (let i = 0; i < 20; i++) {
      await kv.put(key(`late-${i}`), '{}');
      await kv.delete(key(`late-${i}`));
    }
    const before = await streamState();
    expect(await purge.purge(0)).toBe(2 + 40);
    expect(await streamState()).toEqual({ messages: before.messages - 42, subjects: before.subjects - 21 });
  });

  it('a bucket deleted and created again (its sequences start over) is read from its first message', async () => {
    const purge = new MarkerPurge(nc, BUCKET);
    await purge.purge(0);
    await (await jetstreamManager(nc)).streams.delete(`KV_${BUCKET}`);
    kv = await openOnlineBucket(nc, { bucket: BUCKET, replicas: 1, storage: 'memory' });
    for (let i = 0; i < 5; i++) {
      await kv.put(key(`again-${i}`), '{}');
      await kv.delete(key(`again-${i}`));
    }
    expect(await purge.purge(0)).toBe(10);
    expect(await streamState()).toEqual({ messages: 0, subjects: 0 });
  });

  it('an unknown bucket is an error the janitor logs, not a silent zero', async () => {
    await expect(new MarkerPurge(nc, 'no_such_bucket').purge(0)).rejects.toThrow();
  });
});
