import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeToken } from '@signal/core';
import { openOnlineBucket } from '@signal/presence';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { native } from '../support/presence.js';
import { Receiver, startWebhookStack, type WebhookEvent, type WebhookStack } from './support.js';

/** The events a receiver got about `about` (a user or a channel), each once, in arrival order. */
function about(receiver: Receiver, what: string): Pick<WebhookEvent, 'type' | 'user' | 'channel' | 'swept'>[] {
  return receiver
    .unique()
    .filter((e) => e.user === what || e.channel === what)
    .map((e) => ({ type: e.type, ...(e.user ? { user: e.user } : {}), ...(e.channel ? { channel: e.channel } : {}), ...(e.swept === undefined ? {} : { swept: e.swept }) }));
}

describe('webhook events from client actions across two gateways', () => {
  let receiver: Receiver;
  let stack: WebhookStack;
  let nc: NatsConnection;
  let occupancy: Awaited<ReturnType<typeof openOnlineBucket>>;
  beforeAll(async () => {
    receiver = await Receiver.start();
    stack = await startWebhookStack([{ url: receiver.url }]);
    nc = await connect({ servers: stack.nats.url });
    // The gateways' side of signal_occupancy is built elsewhere; its contract (a history-1 KV
    // bucket, key <app>.<env>.<channel token>.<node>) is written here by hand.
    occupancy = await openOnlineBucket(nc, { bucket: 'signal_occupancy', replicas: 1, storage: 'memory' });
  });
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
    await receiver?.stop();
  });

  it('user_online at the first connection anywhere, user_offline at the last one gone', async () => {
    const first = await native(stack, 'ulla', 'web', 0);
    await passes(() => expect(about(receiver, 'ulla')).toEqual([{ type: 'user_online', user: 'ulla' }]));
    const second = await native(stack, 'ulla', 'phone', 1);
    first.close();
    // The second connection keeps her online; a marker user proves the dispatcher got this far.
    const marker = await native(stack, 'marker-1', 'web', 1);
    await passes(() => expect(about(receiver, 'marker-1')).toHaveLength(1));
    expect(about(receiver, 'ulla')).toEqual([{ type: 'user_online', user: 'ulla' }]);
    second.close();
    await passes(() =>
      expect(about(receiver, 'ulla')).toEqual([
        { type: 'user_online', user: 'ulla' },
        { type: 'user_offline', user: 'ulla', swept: false },
      ]),
    );
    marker.close();
  });

  it('member_added and member_removed with identity, device, address and state', async () => {
    const a = await native(stack, 'anna', 'web', 0);
    const b = await native(stack, 'bert', 'phone', 1);
    await a.call('signal.join', { id: 'room-1', presence: true });
    await b.call('signal.join', { id: 'room-1', presence: true, state: { mic: true } });
    await b.call('signal.publish', { id: 'room-1', state: { mic: false } });
    await a.call('signal.leave', { id: 'room-1' });
    b.close();
    const members = await passes(() => {
      const got = receiver.unique().filter((e) => e.channel === 'room-1' && e.type.startsWith('member_'));
      expect(got.map((e) => `${e.type} ${e.member?.identity}`)).toEqual(['member_added anna', 'member_added bert', 'member_removed anna', 'member_removed bert']);
      return got;
    });
    // The gateways' occupancy counts (another bucket, so not ordered against the member events) say the same.
    await passes(() => expect(receiver.unique().filter((e) => e.channel === 'room-1' && e.type.startsWith('channel_')).map((e) => e.type)).toEqual(['channel_occupied', 'channel_vacated']));
    const [addedA, addedB, removedA, removedB] = members;
    expect(addedA).toMatchObject({ app: 'alpha', env: 'test', channel: 'room-1', member: { identity: 'anna', device: 'web', address: a.address } });
    expect(addedB!.member).toMatchObject({ identity: 'bert', device: 'phone', state: { mic: true } });
    expect(removedA).toMatchObject({ swept: false, member: { address: a.address } });
    // The state a member had when it left.
    expect(removedB!.member).toMatchObject({ address: expect.stringMatching(/^bert\/phone\//), state: { mic: false } });
    for (const e of members) {
      expect(e.id).toMatch(/^[a-z0-9]+-\d+$/);
      expect(Math.abs(e.time - Date.now())).toBeLessThan(60_000);
    }
    a.close();
  });

  it('channel_occupied at the first node holding the channel, channel_vacated when the last one lets go', async () => {
    const key = (node: string) => `alpha.test.${encodeToken('lobby/1')}.${node}`;
    await occupancy.put(key('nodea'), '{}');
    await occupancy.put(key('nodeb'), '{}');
    await occupancy.delete(key('nodea'));
    await passes(() => expect(about(receiver, 'lobby/1')).toEqual([{ type: 'channel_occupied', channel: 'lobby/1' }]));
    await occupancy.delete(key('nodeb'));
    await passes(() =>
      expect(about(receiver, 'lobby/1')).toEqual([
        { type: 'channel_occupied', channel: 'lobby/1' },
        { type: 'channel_vacated', channel: 'lobby/1', swept: false },
      ]),
    );
  });

  it("channel_vacated comes after its channel's last member_removed, whichever bucket the gateway wrote first", async () => {
    // Enough channels that without the hold some vacated would come first (half of the runs with 8, measured).
    const channels = Array.from({ length: 16 }, (_, i) => `order-${i}`);
    await Promise.all(
      channels.map(async (channel, i) => {
        const client = await native(stack, `orla-${i}`, 'web', i % 2);
        await client.call('signal.join', { id: channel, presence: true });
        // Some leave, most close their connection (the path that most often wrote occupancy first): both release the channel and the participant.
        if (i % 4 === 0) await client.call('signal.leave', { id: channel });
        client.close();
      }),
    );
    await passes(() => expect(receiver.unique().filter((e) => e.type === 'channel_vacated' && channels.includes(e.channel!))).toHaveLength(channels.length), 20_000);
    for (const channel of channels) {
      const types = receiver.unique().filter((e) => e.channel === channel).map((e) => e.type);
      expect(types.at(-1), `${channel}: ${types.join(', ')}`).toBe('channel_vacated');
      expect(types.filter((t) => t === 'member_removed'), channel).toHaveLength(1);
    }
  });

  it('every request is signed, and every event id is unique', () => {
    expect(receiver.failures).toEqual([]);
    const ids = receiver.events().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
