import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { startNats, type NatsServer } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disagreeingNodes, waitForShardAgreement, type NodeRecord } from '../src/mod.js';

/** A gateway does not start beside gateways with another PRESENCE_SHARDS (docs/presence.md#changing-the-shard-count). */
let nats: NatsServer;
let nc: NatsConnection;
let kv: KV;
const BUCKET = 'agreement_nodes';
const messages: string[] = [];
const log = { warn: (_f: object, m: string) => messages.push(m), info: (_f: object, m: string) => messages.push(m) };

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  kv = await new Kvm(jetstream(nc)).create(BUCKET, { history: 1, storage: 'memory' });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const record = (node: string, extra: Partial<NodeRecord> = {}) =>
  new TextEncoder().encode(JSON.stringify({ node, instance: 'i', beatAt: Date.now(), beats: true, ...extra } satisfies NodeRecord));

describe('shard agreement', () => {
  it('names live gateways with another count; no count is one shard; swept records and its own node id do not count', async () => {
    await kv.put('nodea', record('nodea', { shards: 3 }));
    await kv.put('nodeb', record('nodeb'));
    await kv.put('nodec', record('nodec', { shards: 3, sweptBy: 'nodea' }));
    await kv.put('self', record('self', { shards: 3 }));
    await kv.put('gone', record('gone', { shards: 3 }));
    await kv.delete('gone');
    expect((await disagreeingNodes(nc, BUCKET, 1, 'self')).map((d) => `${d.node} ${d.shards}`)).toEqual(['nodea 3']);
    expect((await disagreeingNodes(nc, BUCKET, 3, 'self')).map((d) => `${d.node} ${d.shards}`)).toEqual(['nodeb 1']);
  });

  it('waits while one disagrees and goes on once its record is gone, or has not moved for the dead time', async () => {
    // nodeb (one shard) still beats: a gateway with 3 waits until its record is deleted (a clean stop).
    let waited = false;
    const waiting = waitForShardAgreement(nc, BUCKET, 'self', 3, 60_000, log, 20).then(() => (waited = true));
    await expect.poll(() => messages.some((m) => m.startsWith('waiting for gateways with another PRESENCE_SHARDS'))).toBe(true);
    expect(waited).toBe(false);
    await kv.delete('nodeb');
    await waiting;
    expect(messages.at(-1)).toContain('no gateway runs with another PRESENCE_SHARDS any more');
    // nodea (3 shards) never moves again: a gateway with 1 goes on after the dead time.
    await waitForShardAgreement(nc, BUCKET, 'self', 1, 200, log, 20);
  });
});
