import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { occupancyFrames } from '../support/occupancy.js';
import { passes } from '../support/poll.js';
import { native } from '../support/presence.js';
import type { RpcClient } from '../support/rpc-client.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * nats-server 2.9 keeps a deleted key's marker forever: without the janitor, the presence, online
 * and occupancy buckets held one message per connection, identity and channel that ever existed
 * (bench/memory-soak.mjs). Here the janitor runs every second with a cutoff of one second.
 */
describe('the janitor keeps the buckets to what is live', () => {
  let stack: Stack;
  const clients: RpcClient[] = [];
  beforeAll(async () => {
    stack = await startStack({ gateways: 2, gatewayEnv: { PRESENCE_JANITOR_MS: '1000', JOIN_RATE: '10000', JOIN_BURST: '10000' } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await stack?.stop();
  });

  /** Messages in each bucket's stream: what the server holds, markers included. */
  async function messagesIn(): Promise<Record<string, number>> {
    const nc = await connect({ servers: stack.nats.url });
    try {
      const count = async (bucket: string) => (await nc.request(`$JS.API.STREAM.INFO.KV_${bucket}`)).json<{ state: { messages: number } }>().state.messages;
      return { presence: await count('signal_presence'), online: await count('signal_online'), occupancy: await count('signal_occupancy') };
    } finally {
      await nc.close();
    }
  }

  it('purges the markers churn leaves in all three buckets, while watches of live channels go on', async () => {
    const watcher = await native(stack, 'watcher', 'd', 0);
    clients.push(watcher);
    await watcher.call('signal.join', { id: 'stage', presence: true, occupancy: true });

    // Churn on both gateways: each visitor is a new identity, in the watched channel and one of its own.
    for (let i = 0; i < 40; i++) {
      const visitor = await native(stack, `visitor-${i}`, 'd', i % 2);
      await visitor.call('signal.join', { id: 'stage', presence: true });
      await visitor.call('signal.join', { id: `own-${i}` });
      visitor.close();
    }
    // Left: the watcher's presence entry, online key and occupancy key of 'stage' on gateway 0.
    // (Every visitor's online key, occupancy keys and presence entry were written and deleted.)
    await passes(async () => expect(await messagesIn()).toEqual({ presence: 1, online: 1, occupancy: 1 }), 30_000);
    expect(stack.gateways.flatMap((g) => g.lines()).some((l) => l.includes('"msg":"presence janitor"') && /"online":[1-9]/.test(l))).toBe(true);

    // The watcher's channel feed and occupancy watch saw the purges go by and still work.
    const late = await native(stack, 'late', 'd', 1);
    clients.push(late);
    await late.call('signal.join', { id: 'stage', presence: true });
    expect((await watcher.next((f) => f.method === 'signal.join' && JSON.stringify(f.params).includes('late'), 10_000)).params).toMatchObject({ id: 'stage' });
    await passes(() => expect(occupancyFrames(watcher, 'stage').at(-1)?.params).toEqual({ id: 'stage', connections: 2, participants: 2 }));
  });
});
