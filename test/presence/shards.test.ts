import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ENTRY_OVERHEAD_BYTES, jetStreamPresenceStore, openPresenceBuckets, shardOfChannel, type PresenceBuckets } from '@signal/presence';
import { startService } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOccupancy } from '../support/occupancy.js';
import { addressesIn, native } from '../support/presence.js';
import { passes } from '../support/poll.js';
import type { RpcClient } from '../support/rpc-client.js';
import { GATEWAY_ENTRY, keysOf, serviceEnv } from '../support/stack.js';
import { Receiver, startWebhookStack, type WebhookStack } from '../webhooks/support.js';

/**
 * PRESENCE_SHARDS=3 on every service (docs/presence.md#sharding): two gateways, the emit-api and
 * a webhooks dispatcher, with channels in each of the three buckets.
 */
const SHARDS = { PRESENCE_SHARDS: '3' };
const scope = { app: 'alpha', env: 'test' as const };

/** One channel per shard: `room-<n>` names, the first that lands in each bucket. */
function channelPerShard(): string[] {
  const found: (string | undefined)[] = [undefined, undefined, undefined];
  for (let i = 0; found.includes(undefined); i++) {
    const channel = `room-${i}`;
    found[shardOfChannel(scope, channel, 3)] ??= channel;
  }
  return found as string[];
}

describe('presence over three buckets, two gateways', () => {
  const channels = channelPerShard();
  let receiver: Receiver;
  let stack: WebhookStack;
  let nc: NatsConnection;
  let buckets: PresenceBuckets;
  beforeAll(async () => {
    receiver = await Receiver.start();
    stack = await startWebhookStack([{ url: receiver.url, events: ['member_added', 'member_removed'] }], { gatewayEnv: SHARDS, emitEnv: SHARDS, webhooksEnv: SHARDS });
    nc = await connect({ servers: stack.nats.url });
    const settings = { bucket: 'signal_presence', shards: 3, replicas: 1, storage: 'memory', maxBytes: 256 * 1024 * 1024, maxValueBytes: 1024 + ENTRY_OVERHEAD_BYTES, retryDeadlineMs: 0 } as const;
    buckets = await openPresenceBuckets(nc, settings);
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await receiver?.stop();
  });

  it('joins, leaves, lists, counts and member events in every shard; a SIGKILLed gateway is swept from all of them', { timeout: 90_000 }, async () => {
    expect(buckets.shards.map((s) => s.bucket)).toEqual(['signal_presence', 'signal_presence_1', 'signal_presence_2']);
    const clients: RpcClient[][] = [];
    for (const [i, channel] of channels.entries()) {
      const a = await native(stack, `a${i}`, 'web', 0);
      const b = await native(stack, `b${i}`, 'web', 1);
      await a.call('signal.join', { id: channel, presence: true, state: { shard: i } });
      const joined = await b.call('signal.join', { id: channel, presence: true });
      // The newcomer on the other gateway got the first one, from the channel's own bucket.
      expect((joined as { participants: { address: string }[] }).participants.map((p) => p.address)).toEqual([a.address]);
      await a.next((f) => f.method === 'signal.join' && f.params?.from === b.address);
      clients.push([a, b]);
    }
    // Each channel's entries are in its bucket and nowhere else.
    for (const [i, channel] of channels.entries()) {
      for (const [n, shard] of buckets.shards.entries()) {
        const entries = await jetStreamPresenceStore(nc, [shard]).participants(scope, channel);
        expect(entries.length, `${channel} in ${shard.bucket}`).toBe(n === i ? 2 : 0);
      }
      expect(await addressesIn(stack, channel)).toEqual(clients[i]!.map((c) => c.address).sort());
      await passes(async () => expect((await getOccupancy(stack, channel)).body).toMatchObject({ connections: 2, participants: 2 }));
    }

    // The console's channel list (occupancy counts, one bucket) has every shard's channels.
    await passes(async () => {
      const listed = (await (await fetch(`${stack.emitUrl}/v1/channels`, { headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}` } })).json()) as { channels: { channel: string; participants: number }[] };
      expect(listed.channels.map((c) => `${c.channel} ${c.participants}`).sort()).toEqual(channels.map((c) => `${c} 2`).sort());
    });

    // A leave in each shard reaches the other gateway.
    const [a0, b0] = clients[0]!;
    await b0!.call('signal.leave', { id: channels[0] });
    await a0!.next((f) => f.method === 'signal.leave' && f.params?.from === b0!.address);
    expect(await addressesIn(stack, channels[0]!)).toEqual([a0!.address]);
    await b0!.call('signal.join', { id: channels[0], presence: true });

    // Gateway 1 dies: its participants of every shard are swept, and announced on gateway 0.
    await stack.gateways[1]!.kill();
    for (const [i, channel] of channels.entries()) {
      const [a, b] = clients[i]!;
      await a!.next((f) => f.method === 'signal.leave' && f.params?.id === channel && f.params?.from === b!.address, 15_000);
      expect(await addressesIn(stack, channel)).toEqual([a!.address]);
      await passes(async () => expect((await getOccupancy(stack, channel)).body).toMatchObject({ connections: 1, participants: 1 }));
    }

    // Webhooks mirror every shard: each channel's member events, the sweep's marked swept.
    await passes(() => {
      for (const [i, channel] of channels.entries()) {
        const [a] = clients[i]!;
        const events = receiver.unique().filter((e) => e.channel === channel).map((e) => `${e.type} ${e.member!.address === a!.address ? 'a' : 'b'} ${e.swept ?? false}`);
        const rejoin = i === 0 ? ['member_removed b false', 'member_added b false'] : [];
        expect(events, channel).toEqual(['member_added a false', 'member_added b false', ...rejoin, 'member_removed b true']);
      }
    }, 20_000);
    expect(receiver.failures).toEqual([]);
    for (const pair of clients) pair[0]!.close();
  });

  it('a gateway started with another PRESENCE_SHARDS waits, not ready, until the gateways with the old count are gone', { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const starting = startService({ entry: GATEWAY_ENTRY, name: 'gateway-one-shard', env: { ...serviceEnv(stack), PRESENCE_SHARDS: '1' }, readyTimeoutMs: 45_000, onLine: (l) => lines.push(l) });
    await passes(() => expect(lines.some((l) => l.includes('waiting for gateways with another PRESENCE_SHARDS to stop'))).toBe(true));
    expect(lines.some((l) => l.includes('"msg":"ready"'))).toBe(false);
    // The gateways with 3 shards stop (gateway 1 was killed and swept; gateway 0 stops cleanly, its record goes): the newcomer goes on.
    await stack.gateways[1]!.stop();
    expect(await stack.gateways[0]!.stop()).toBe(0);
    const started = await starting;
    expect(lines.some((l) => l.includes('no gateway runs with another PRESENCE_SHARDS any more'))).toBe(true);
    await started.stop();
  });
});
