import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeView } from '../support/native-view.js';
import { addressesIn, native } from '../support/presence.js';
import { passes } from '../support/poll.js';
import type { RpcClient } from '../support/rpc-client.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Presence where joins no longer read the store: each gateway follows a channel from its first
 * local join, and counts the participant limit in the store's order. Joins race across both
 * gateways for the first and the last place; a large channel fills from both at once.
 */
const LARGE = 150;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    gatewayEnv: { PRESENCE_MAX_PARTICIPANTS: String(LARGE + 10) },
    configureApps: (apps) => {
      (apps[0]!.environments.test as Record<string, unknown>).authorization = {
        policy: 'open',
        anonymous: [],
        namespaces: { 'solo-*': { maxParticipants: 1 }, 'last-*': { maxParticipants: 5 } },
      };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

async function race(channel: string, racers: RpcClient[]) {
  const answers = await Promise.all(racers.map((r) => r.request('signal.join', { id: channel, presence: true })));
  for (const answer of answers) if (answer.error) expect(answer.error).toMatchObject({ data: { code: 'limit_exceeded', field: 'id' } });
  return racers.filter((_, i) => answers[i]!.error === undefined);
}

/** The store holds exactly who was told yes, and every one of them sees exactly the others. */
async function agreed(channel: string, admitted: RpcClient[]): Promise<void> {
  await passes(async () => expect(await addressesIn(stack, channel)).toEqual(admitted.map((m) => m.address).sort()));
  for (const m of admitted) {
    const others = admitted.filter((o) => o !== m).map((o) => o.address).sort();
    await passes(() => expect([...nativeView(m, channel).keys()].sort()).toEqual(others));
  }
}

describe('joins racing across two gateways', () => {
  it('for the first place of a channel of one: one racer gets it, on either gateway, in every round', async () => {
    for (let round = 0; round < 5; round++) {
      const channel = `solo-${round}`;
      // Neither gateway follows the channel yet: both open their feed while racing.
      const racers = await Promise.all(Array.from({ length: 6 }, (_, i) => native(stack, `f${round}-${i}`, 'web', i % 2)));
      const admitted = await race(channel, racers);
      expect(admitted).toHaveLength(1);
      await agreed(channel, admitted);
      for (const c of racers) c.close();
    }
  });

  it('for the last place: never more than the limit, and a refused racer gets in once a place frees', async () => {
    for (let round = 0; round < 5; round++) {
      const channel = `last-${round}`;
      const members = await Promise.all(Array.from({ length: 4 }, (_, i) => native(stack, `l${round}-${i}`, 'web', i % 2)));
      for (const m of members) await m.call('signal.join', { id: channel, presence: true });
      const racers = await Promise.all(Array.from({ length: 6 }, (_, i) => native(stack, `r${round}-${i}`, 'web', i % 2)));
      const admitted = await race(channel, racers);
      // Racers err only towards refusing (one may be refused because of another that withdraws).
      expect(admitted.length).toBeLessThanOrEqual(1);
      await agreed(channel, [...members, ...admitted]);
      if (admitted.length === 0) {
        const retry = racers[0]!;
        expect(await retry.call('signal.join', { id: channel, presence: true })).toMatchObject({ participants: expect.any(Array) });
        admitted.push(retry);
      }
      const refused = racers.find((r) => !admitted.includes(r))!;
      await members[0]!.call('signal.leave', { id: channel });
      expect(await refused.call('signal.join', { id: channel, presence: true })).toMatchObject({ participants: expect.any(Array) });
      await agreed(channel, [...members.slice(1), ...admitted, refused]);
      for (const c of [...members, ...racers]) c.close();
    }
  });
});

describe('a large channel', () => {
  it(`fills with ${LARGE} participants joining from both gateways at once; a newcomer on each gets all of them`, async () => {
    const members = await Promise.all(Array.from({ length: LARGE }, (_, i) => native(stack, `big${i}`, 'web', i % 2)));
    await Promise.all(members.map((m, i) => m.call('signal.join', { id: 'big', presence: true, state: { i } })));
    expect(await addressesIn(stack, 'big')).toHaveLength(LARGE);
    for (const gateway of [0, 1]) {
      const newcomer = await native(stack, `newcomer${gateway}`, 'web', gateway);
      const joined = (await newcomer.call('signal.join', { id: 'big', presence: true })) as { participants: { address: string; state?: unknown }[] };
      expect(joined.participants.map((p) => p.address).sort()).toEqual(members.map((m) => m.address).sort());
      expect(joined.participants.find((p) => p.address === members[7]!.address)?.state).toEqual({ i: 7 });
      await newcomer.call('signal.leave', { id: 'big' });
      newcomer.close();
    }
    // Every member ends with every other member, each told once (nativeView would hide a double
    // join; the store's count and every view's size together show none is missing).
    for (const m of [members[0]!, members[1]!, members[LARGE - 1]!]) {
      await passes(() => expect(nativeView(m, 'big').size).toBe(LARGE - 1));
      const told = () =>
        m.raw.filter((t) => (t.includes('"method":"signal.join"') || t.includes('"method":"signal.join_back"')) && t.includes('"id":"big"')).length;
      // Everyone else once (a join or a join_back), and the two newcomers.
      await passes(() => expect(told()).toBe(LARGE - 1 + 2));
    }
    for (const c of members) c.close();
  });
});
