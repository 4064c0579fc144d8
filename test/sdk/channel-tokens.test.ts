import WebSocket from 'ws';
import { AppRegistry, mintChannelToken, parseAppsFile } from '@signal/core';
import { Signal, type Payload, type State } from '@signal/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { emit, keysOf, startStack, type Stack } from '../support/stack.js';
import { next } from './support.js';

/**
 * The SDK's channel-token provider, in alpha's restricted live environment where user tokens
 * grant nothing by themselves: a channel joined with `{ token: provider }` is opened by the
 * provider's token, and stays usable past that token's expiry because the SDK asks again and
 * joins again with the fresh one.
 */
let stack: Stack;
const clients: Signal<Payload, State>[] = [];

beforeAll(async () => {
  stack = await startStack({
    gateways: 1,
    configureApps: (apps) => {
      (apps[0]!.environments.live as Record<string, unknown>).authorization = { policy: 'restricted' };
    },
  });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await stack?.stop();
});

function liveClient(identity: string): Signal {
  const signal = new Signal(
    async () => {
      const res = await emit(stack, '/v1/tokens', keysOf(stack, 'alpha', 'live').secretKey, { identity, device: 'web' });
      return res.body!.token as string;
    },
    { url: stack.gatewayUrl(0), WebSocket },
  );
  clients.push(signal);
  return signal;
}

/** Mints channel tokens for `identity` that live `ttlSeconds`, remembering each one's expiry. */
function channelTokens(identity: string, ttlSeconds: number) {
  const scope = new AppRegistry(parseAppsFile({ apps: stack.apps })).byPublishableKey(keysOf(stack, 'alpha', 'live').publishableKey)!;
  const provider = Object.assign(
    async (channel: string) => {
      provider.channels.push(channel);
      const { token, expiresAt } = await mintChannelToken(scope, { identity, channel, operations: ['subscribe', 'publish', 'presence'], ttlSeconds });
      provider.expiries.push(expiresAt);
      return token;
    },
    { channels: [] as string[], expiries: [] as number[] },
  );
  return provider;
}

describe('channel tokens in the SDK', () => {
  it('open a channel the user token does not grant, and are renewed ahead of expiry', async () => {
    const alice = liveClient('alice');
    const provider = channelTokens('alice', 3);
    const room = alice.join('private-alice-bob', { presence: true, token: provider });
    await room.joined;
    expect(provider.channels).toEqual(['private-alice-bob']);
    await room.publish({ n: 1 }, { ack: true });
    // The provider is asked again before the first token expires; once it has expired, the channel still works.
    await eventually(() => provider.channels.length >= 2, 'the SDK to ask for a fresh channel token', 10_000);
    const firstExpiry = provider.expiries[0]!;
    await eventually(() => Date.now() >= firstExpiry * 1000 + 200, 'the first channel token to expire', 10_000);
    await expect(room.publish({ n: 2 }, { ack: true })).resolves.toBeUndefined();
  });

  it('without a token the join fails with a typed forbidden error naming the channel and operation', async () => {
    const carol = liveClient('carol');
    const room = carol.join('private-alice-bob');
    const failed = next(room, 'error');
    await expect(room.joined).rejects.toMatchObject({ code: 'forbidden', channel: 'private-alice-bob', operation: 'subscribe' });
    expect((await failed)[0]).toMatchObject({ code: 'forbidden' });
  });

  it('a provider that fails makes the join fail with token_provider', async () => {
    const dan = liveClient('dan');
    const room = dan.join('private-dan', {
      token: () => {
        throw new Error('backend said no');
      },
    });
    await expect(room.joined).rejects.toMatchObject({ code: 'token_provider' });
  });
});
