import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRegistry, mintUserToken, parseAppsFile } from '@signal/core';
import { keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { CLIENT_VERSIONS, StelaceClient, connectStelace, gatewayHttpUrl, postSignal } from '../support/stelace-client.js';

/**
 * Stelace sockets ask for channels once, in `authentication`; a channel the socket may not
 * subscribe to is refused the way Stelace refused a members-only channel: a `warning`
 * (`<identity> was not granted access to <channel>.`, `Anonymous` without a token), the socket
 * stays connected and gets everything else. Whether it joined shows at the emit API: POST
 * /signal answers 404 for a destination no connection holds. alpha's live environment is
 * restricted, its test environment open.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    configureApps: (apps) => {
      (apps[0]!.environments.live as Record<string, unknown>).authorization = { policy: 'restricted', anonymous: ['news-*'] };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

let counter = 0;
const unique = (what: string) => `${what}${++counter}`;

async function delivered(env: 'test' | 'live', destination: string): Promise<number> {
  return (await postSignal(stack, keysOf(stack, 'alpha', env).secretKey, { destination, event: 'update', message: destination })).status;
}

describe.each(CLIENT_VERSIONS)('socket.io-client %s', (version) => {
  it('anonymous, restricted: joins the anonymous patterns only, with a warning for the rest', async () => {
    const news = unique('news-');
    const secret = unique('private-bob-carol-');
    const { publishableKey } = keysOf(stack, 'alpha', 'live');
    const { client } = await connectStelace(stack, version, { publishableKey, channels: [news, secret] }, { env: 'live', gateway: 1 });
    expect(await client.next('warning')).toEqual([`Anonymous was not granted access to ${secret}.`]);
    expect(await delivered('live', news)).toBe(200);
    expect(await client.next('update')).toEqual([{ message: news, event: 'update', env: 'live' }]);
    expect(await delivered('live', secret)).toBe(404);
    expect(client.connected).toBe(true);
    client.close();
  });

  it.each([
    ['live', 'restricted'],
    ['test', 'open'],
  ] as const)('a token with a capability, %s (%s): joins what it grants, keeps its own user channel, is warned for the rest', async (env, _policy) => {
    const identity = unique(`usr_${version}`);
    const shop = unique('shop-');
    const other = unique('other-');
    const { publishableKey } = keysOf(stack, 'alpha', env);
    const authToken = await mintToken(stack, 'alpha', identity, undefined, env, { capability: { 'shop-*': ['subscribe'] } });
    const { client } = await connectStelace(stack, version, { publishableKey, authToken, channels: [shop, other, identity] }, { env });
    expect(await client.next('warning')).toEqual([`${identity} was not granted access to ${other}.`]);
    expect(await delivered(env, shop)).toBe(200);
    await client.next('update', ([payload]) => (payload as { message: string }).message === shop);
    expect(await delivered(env, identity)).toBe(200);
    await client.next('update', ([payload]) => (payload as { message: string }).message === identity);
    expect(await delivered(env, other)).toBe(404);
    client.close();
  });

  it('a token without capability, restricted: joins no requested channel but still gets its own user channel', async () => {
    const identity = unique(`usr_${version}`);
    const room = unique('room-');
    const { publishableKey } = keysOf(stack, 'alpha', 'live');
    const authToken = await mintToken(stack, 'alpha', identity, undefined, 'live');
    const { client } = await connectStelace(stack, version, { publishableKey, authToken, channels: [room] }, { env: 'live' });
    expect(await client.next('warning')).toEqual([`${identity} was not granted access to ${room}.`]);
    expect(await delivered('live', room)).toBe(404);
    expect(await delivered('live', identity)).toBe(200);
    await client.next('update');
    client.close();
  });

  it('a well-signed token with a malformed capability is refused as an invalid token', async () => {
    const { publishableKey } = keysOf(stack, 'alpha', 'live');
    const scope = new AppRegistry(parseAppsFile({ apps: stack.apps })).byPublishableKey(publishableKey)!;
    const hostile = [{ pattern: 'room', operations: ['everything'] }] as unknown as Parameters<typeof mintUserToken>[1]['capability'];
    const { token } = await mintUserToken(scope, { identity: unique(`usr_${version}`), ttlSeconds: 60, capability: hostile });
    const client = new StelaceClient(gatewayHttpUrl(stack, 0), version);
    await client.authenticate({ publishableKey, authToken: token, channels: ['news-1'] });
    expect(await client.next('willDisconnect')).toEqual([{ error: 'Invalid authentication token' }]);
    expect(await client.disconnected).toBe('io server disconnect');
  });
});
