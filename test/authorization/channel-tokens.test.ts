import { AppRegistry, mintChannelToken, parseAppsFile } from '@signal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { RpcClient } from '../support/rpc-client.js';
import { emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

/**
 * Channel tokens: emit-api mints a grant for one channel and one user; the client passes it
 * with `signal.join {id, token}` and gains the channel without reconnecting. alpha's live
 * environment is restricted, so the user tokens here grant nothing by themselves.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    configureApps: (apps) => {
      (apps[0]!.environments.live as Record<string, unknown>).authorization = { policy: 'restricted' };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

let counter = 0;
const unique = (what: string) => `${what}${++counter}`;
const secretKey = () => keysOf(stack, 'alpha', 'live').secretKey;

async function channelToken(body: Record<string, unknown>): Promise<string> {
  const res = await emit(stack, '/v1/channel-tokens', secretKey(), body);
  if (res.status !== 201) throw new Error(`minting a channel token failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body!.token as string;
}

async function user(identity: string, gateway = 0, device = 'web', path: 'native' | 'bit6' = 'native'): Promise<RpcClient> {
  const audience = `http://127.0.0.1:${String(stack.gateways[gateway]!.ready.port)}`;
  const token = await mintToken(stack, 'alpha', identity, device, 'live', { audience });
  return path === 'native'
    ? RpcClient.connect(`${stack.gatewayUrl(gateway)}/v1/connect?token=${token}`)
    : RpcClient.connect(`${stack.gatewayUrl(gateway)}/signal/v1/pubsub?jwt=${token}`, 'bit6');
}

function scope() {
  return new AppRegistry(parseAppsFile({ apps: stack.apps })).byPublishableKey(keysOf(stack, 'alpha', 'live').publishableKey)!;
}

describe('POST /v1/channel-tokens', () => {
  it('mints a short-lived grant for one channel and one user', async () => {
    const res = await emit(stack, '/v1/channel-tokens', secretKey(), { identity: 'bob', channel: 'private-bob-carol', operations: ['subscribe', 'presence'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ sub: 'bob', channel: 'private-bob-carol', operations: ['subscribe', 'presence'], env: 'live' });
    const expiresIn = (res.body!.expiresAt as number) - Date.now() / 1000;
    expect(expiresIn).toBeGreaterThan(290);
    expect(expiresIn).toBeLessThanOrEqual(300);
  });

  it('refuses bad input with 400 naming the field, and a missing secret key with 401', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ channel: 'x' }, 'identity'],
      [{ identity: 'bob' }, 'channel'],
      [{ identity: 'bob', channel: '' }, 'channel'],
      [{ identity: 'bob', channel: 'x', operations: [] }, 'operations'],
      [{ identity: 'bob', channel: 'x', operations: ['admin'] }, 'operations.0'],
      [{ identity: 'bob', channel: 'x', ttl: 1 }, 'ttl'],
      [{ identity: 'bob', channel: 'x', capability: {} }, ''],
    ];
    for (const [body, field] of cases) {
      const res = await emit(stack, '/v1/channel-tokens', secretKey(), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ code: 'bad_request', field });
    }
    expect((await emit(stack, '/v1/channel-tokens', undefined, { identity: 'bob', channel: 'x' })).status).toBe(401);
  });
});

describe('signal.join {id, token}', () => {
  it('opens the channel it names for the operations it grants, across gateways, and nothing else', async () => {
    const channel = unique('private-bob-carol-');
    const bob = await user(unique('bob'), 0);
    const bobIdentity = bob.address.split('/')[0]!;
    const carol = await user(unique('carol'), 1);
    const carolIdentity = carol.address.split('/')[0]!;
    expect((await bob.request('signal.join', { id: channel })).error?.data).toMatchObject({ code: 'forbidden', channel, operation: 'subscribe' });

    const forBob = await channelToken({ identity: bobIdentity, channel, operations: ['subscribe', 'presence', 'publish'] });
    const forCarol = await channelToken({ identity: carolIdentity, channel, operations: ['subscribe', 'presence'] });
    await carol.call('signal.join', { id: channel, presence: true, token: forCarol });
    const joined = (await bob.call('signal.join', { id: channel, presence: true, token: forBob, state: { typing: false } })) as { participants: Array<{ identity: string }> };
    expect(joined.participants.map((p) => p.identity)).toEqual([carolIdentity]);
    await bob.call('signal.publish', { id: channel, text: 'hi carol' });
    expect((await carol.next((f) => f.method === 'signal.publish' && f.params?.text !== undefined)).params).toMatchObject({ id: channel, text: 'hi carol' });
    // Carol's grant has no publish; the token opens only its channel.
    expect((await carol.request('signal.publish', { id: channel, text: 'x' })).error?.data).toMatchObject({ code: 'forbidden', channel, operation: 'publish' });
    expect((await bob.request('signal.join', { id: `${channel}-2` })).error?.data).toMatchObject({ code: 'forbidden', operation: 'subscribe' });
    bob.close();
    carol.close();
  });

  it('works on the Bit6 paths, where a refused token comes back with id null', async () => {
    const channel = unique('room-');
    const identity = unique('dan');
    const dan = await user(identity, 0, 'web', 'bit6');
    dan.notify('signal.join', { id: channel, token: await channelToken({ identity: `${identity}-other`, channel }) });
    expect((await dan.next((f) => f.error !== undefined)).error).toMatchObject({ data: { code: 'forbidden', field: 'token' } });
    dan.notify('signal.join', { id: channel, token: await channelToken({ identity, channel }) });
    await eventually(async () => {
      await emit(stack, '/v1/signals', secretKey(), { to: { channel }, event: 'probe', message: 1 });
      return dan.frames.some((f) => f.params?.event === 'probe');
    }, 'the Bit6 join with a channel token to take effect');
    dan.close();
  });

  it('refuses a token for another user, device, channel or environment with forbidden, field token', async () => {
    const channel = unique('room-');
    const identity = unique('erin');
    const erin = await user(identity, 0, 'phone');
    const cases: Array<[string, RegExp]> = [
      [await channelToken({ identity: 'mallory', channel }), /minted for 'mallory'/],
      [await channelToken({ identity, device: 'laptop', channel }), /minted for '.*\/laptop'/],
      [await channelToken({ identity, channel: `${channel}-other` }), /is for channel/],
    ];
    const testEnv = await emit(stack, '/v1/channel-tokens', keysOf(stack, 'alpha', 'test').secretKey, { identity, channel });
    cases.push([testEnv.body!.token as string, /another app or environment/]);
    for (const [token, message] of cases) {
      const refusal = await erin.request('signal.join', { id: channel, token });
      expect(refusal.error).toMatchObject({ code: -32003, data: { code: 'forbidden', field: 'token', channel } });
      expect(refusal.error?.message).toMatch(message);
    }
    // The device it names is fine.
    expect(await erin.call('signal.join', { id: channel, token: await channelToken({ identity, device: 'phone', channel }) })).toEqual({ id: channel });
    erin.close();
  });

  it('refuses a bad, expired or user token with unauthorized, and a channel token at connect', async () => {
    const channel = unique('room-');
    const identity = unique('finn');
    const finn = await user(identity);
    const expired = (await mintChannelToken(scope(), { identity, channel, operations: ['subscribe'], ttlSeconds: -5 })).token;
    const userToken = await mintToken(stack, 'alpha', identity, 'web', 'live');
    const cases: Array<[string, RegExp]> = [
      ['not-a-token', /not a JWT/],
      [expired, /expired/],
      [userToken, /this is a user token/],
    ];
    for (const [token, message] of cases) {
      const refusal = await finn.request('signal.join', { id: channel, token });
      expect(refusal.error).toMatchObject({ code: -32001, data: { code: 'unauthorized', field: 'token', channel } });
      expect(refusal.error?.message).toMatch(message);
    }
    const asUserToken = await channelToken({ identity, channel });
    await expect(RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${asUserToken}`)).rejects.toThrow(/^401 .*this is a channel token/);
    finn.close();
  });

  it('a grant ends at its expiry, joining again with a fresh token renews it, and leaving gives it up', async () => {
    const channel = unique('room-');
    const identity = unique('gus');
    const gus = await user(identity);
    const short = (await mintChannelToken(scope(), { identity, channel, operations: ['subscribe', 'publish'], ttlSeconds: 2 })).token;
    await gus.call('signal.join', { id: channel, token: short });
    expect(await gus.call('signal.publish', { id: channel, n: 1 })).toEqual({});
    await eventually(async () => (await gus.request('signal.publish', { id: channel, n: 2 })).error?.data?.code === 'forbidden', 'the grant to expire', 10_000, 200);
    const refusal = await gus.request('signal.publish', { id: channel, n: 3 });
    expect(refusal.error?.message).toMatch(/channel token for it expired at/);
    await gus.call('signal.join', { id: channel, token: await channelToken({ identity, channel, operations: ['subscribe', 'publish'] }) });
    expect(await gus.call('signal.publish', { id: channel, n: 4 })).toEqual({});
    // Leaving gives the grant up: coming back needs a token again.
    await gus.call('signal.leave', { id: channel });
    expect((await gus.request('signal.join', { id: channel })).error?.data).toMatchObject({ code: 'forbidden', channel, operation: 'subscribe' });
    gus.close();
  });
});
