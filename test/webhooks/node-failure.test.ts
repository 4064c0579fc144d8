import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { native } from '../support/presence.js';
import { Receiver, startWebhookStack, type WebhookStack } from './support.js';

describe('a gateway killed with the last member of a channel and the last connection of a user', () => {
  let receiver: Receiver;
  let stack: WebhookStack;
  beforeAll(async () => {
    receiver = await Receiver.start();
    stack = await startWebhookStack([{ url: receiver.url }]);
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.stop();
  });

  it('member_removed and user_offline arrive after the sweep, marked swept, exactly once', async () => {
    const bob = await native(stack, 'bob', 'web', 0);
    await bob.call('signal.join', { id: 'call-1', presence: true });
    const alice = await native(stack, 'alice', 'web', 1);
    await alice.call('signal.join', { id: 'call-1', presence: true, state: { talking: true } });
    await alice.call('signal.join', { id: 'call-2', presence: true });
    await passes(() => expect(receiver.unique().filter((e) => e.type === 'member_added')).toHaveLength(3));

    await stack.gateways[1]!.kill();
    // Bob's gateway sweeps the dead one and tells him; the webhooks say the same.
    await bob.next((f) => f.method === 'signal.leave', 15_000);
    const swept = await passes(() => {
      const got = receiver.unique().filter((e) => e.swept === true);
      expect(got.map((e) => `${e.type} ${e.channel ?? e.user}`).sort()).toEqual(['channel_vacated call-2', 'member_removed call-1', 'member_removed call-2', 'user_offline alice']);
      return got;
    }, 15_000);
    // Exactly once: the receiver never failed, so nothing was retried, and each came one time.
    expect(receiver.failures).toEqual([]);
    expect(receiver.events().filter((e) => e.swept === true)).toHaveLength(4);
    expect(swept.find((e) => e.channel === 'call-1')!.member).toMatchObject({ address: alice.address, identity: 'alice', device: 'web', state: { talking: true } });

    // Later events of the same channel and user arrive after them: nothing more about the dead node came.
    await bob.call('signal.leave', { id: 'call-1' });
    const back = await native(stack, 'alice', 'web', 0);
    await passes(() => {
      expect(receiver.events().filter((e) => e.channel === 'call-1' && e.type.startsWith('member_')).map((e) => `${e.type} ${e.member!.identity} ${e.swept}`)).toEqual([
        'member_added bob undefined',
        'member_added alice undefined',
        'member_removed alice true',
        'member_removed bob false',
      ]);
      expect(receiver.events().filter((e) => e.user === 'alice').map((e) => `${e.type} ${e.swept}`)).toEqual(['user_online undefined', 'user_offline true', 'user_online undefined']);
    });
    expect(receiver.failures).toEqual([]);
    back.close();
    bob.close();
  });

  it('a gateway stopped with SIGTERM: its users go offline and its members leave, not marked swept', async () => {
    const sam = await native(stack, 'sam', 'web', 0);
    await sam.call('signal.join', { id: 'call-3', presence: true });
    await passes(() => expect(receiver.unique().filter((e) => e.user === 'sam' || e.channel === 'call-3').map((e) => e.type).sort()).toEqual(['channel_occupied', 'member_added', 'user_online']));
    expect(await stack.gateways[0]!.stop()).toBe(0);
    // Per user and per channel in order; the two travel in separate partitions.
    await passes(() => {
      expect(receiver.unique().filter((e) => e.user === 'sam').map((e) => `${e.type} ${e.swept}`)).toEqual(['user_online undefined', 'user_offline false']);
      expect(receiver.unique().filter((e) => e.channel === 'call-3' && e.type.startsWith('member_')).map((e) => `${e.type} ${e.swept}`)).toEqual(['member_added undefined', 'member_removed false']);
      expect(receiver.unique().filter((e) => e.channel === 'call-3' && e.type.startsWith('channel_')).map((e) => `${e.type} ${e.swept}`)).toEqual(['channel_occupied undefined', 'channel_vacated false']);
    });
  });
});
