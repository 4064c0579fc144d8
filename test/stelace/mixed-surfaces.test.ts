import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient, settle } from '../support/rpc-client.js';
import { connectNative, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { CLIENT_VERSIONS, connectStelace, postSignal } from '../support/stelace-client.js';

/**
 * A Stelace socket and a native JSON-RPC client share one core: same channels, same users.
 * Stelace sockets get client messages only where the environment opts in (alpha's test
 * environment here); test/stelace/client-messages.test.ts covers the default.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    configureApps: (apps) => {
      apps[0]!.environments.test!.stelace = { clientMessages: true };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const alpha = () => keysOf(stack, 'alpha');

function nativeClient(identity: string, gateway: number): Promise<RpcClient> {
  return connectNative(stack, { identity, device: 'web', gateway });
}

describe.each(CLIENT_VERSIONS)('socket.io-client %s with a native client', (version) => {
  const mix = `${version}-mix`;

  it('sees native publishes, and both see POST /signal', async () => {
    const native = await nativeClient(`${version}-nat`, 0);
    await native.call('signal.join', { id: mix });
    const { client, id } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: mix }, { gateway: 1 });

    await native.call('signal.publish', { id: mix, event: 'chat', message: 'yo' });
    expect(await client.next('chat')).toEqual([{ message: 'yo', event: 'chat', env: 'test', from: native.address, channel: mix }]);

    await native.call('signal.publish', { id: mix, text: 'bit6 style' });
    expect(await client.next('signal')).toEqual([{ message: { text: 'bit6 style' }, event: 'signal', env: 'test', from: native.address, channel: mix }]);

    // Events a socket.io client would mistake for its own are not delivered to it.
    await native.call('signal.publish', { id: mix, event: 'disconnect', message: 'x' });
    await native.call('signal.publish', { id: mix, event: 'last', message: 'marker' });
    await client.next('last');
    expect(client.names()).toEqual(['authentication']);
    expect(client.connected).toBe(true);

    expect((await postSignal(stack, alpha().secretKey, { destination: mix, event: 'news', message: { n: 1 } })).status).toBe(200);
    expect(await client.next('news')).toEqual([{ message: { n: 1 }, event: 'news', env: 'test' }]);
    const frame = await native.next((f) => f.method === 'signal.publish' && f.params?.event === 'news');
    expect(frame.params).toEqual({ id: mix, event: 'news', message: { n: 1 } });

    // The Stelace connection id is an address natives can reach too (it has no user: $anon).
    await native.call('signal.send', { to: `$anon/$anon/${id}`, event: 'direct', message: 'hi socket' });
    expect(await client.next('direct')).toEqual([{ message: 'hi socket', event: 'direct', env: 'test', from: native.address }]);
    client.close();
    native.close();
  });

  it('a native direct message to a user reaches that user’s Stelace socket', async () => {
    const ivy = `usr_${version}ivy`;
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: await mintToken(stack, 'alpha', ivy) });
    const native = await nativeClient(`${version}-sender`, 1);
    expect(await native.call('signal.send', { to: ivy, event: 'dm', message: 'psst' })).toEqual({});
    expect(await client.next('dm')).toEqual([{ message: 'psst', event: 'dm', env: 'test', from: native.address }]);
    client.close();
    native.close();
  });

  it('a usr_ destination never reaches native clients that joined a channel of that name', async () => {
    const jon = `usr_${version}jon`;
    const squatter = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?key=${alpha().publishableKey}`);
    await squatter.call('signal.join', { id: jon });
    await squatter.call('signal.join', { id: `${version}-after` });
    expect((await postSignal(stack, alpha().secretKey, { destination: jon, message: 'private' })).status).toBe(404);
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: await mintToken(stack, 'alpha', jon) });
    expect((await postSignal(stack, alpha().secretKey, { destination: jon, message: 'private' })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'private', event: 'signal', env: 'test' }]);
    await settle(squatter, async (marker) => {
      expect((await postSignal(stack, alpha().secretKey, { destination: `${version}-after`, message: marker })).status).toBe(200);
    });
    expect(squatter.received('signal.publish')).toEqual([]);
    client.close();
    squatter.close();
  });
});
