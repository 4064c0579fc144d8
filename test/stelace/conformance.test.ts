import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import {
  CLIENT_VERSIONS,
  StelaceClient,
  connectStelace,
  gatewayHttpUrl,
  postSignal,
  waitUntilReady,
} from '../support/stelace-client.js';

/** The conformance cases of the Stelace spec, with the real socket.io clients, across two gateway nodes. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

const alpha = () => keysOf(stack, 'alpha');

/** Proves a signal did not reach `client`: a marker sent to it afterwards arrives first. */
async function assertNothingMore(client: StelaceClient, id: string, app: 'alpha' | 'beta' = 'alpha', env: 'test' | 'live' = 'test') {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  expect((await postSignal(stack, keysOf(stack, app, env).secretKey, { destination: id, event: 'marker', message: marker })).status).toBe(200);
  await client.next('marker', (args) => (args[0] as { message: string }).message === marker);
  expect(client.names().filter((n) => n !== 'authentication')).toEqual([]);
}

describe.each(CLIENT_VERSIONS)('socket.io-client %s', (version) => {
  const channel = (name: string) => `${version}-${name}`;

  it('1. emits authentication(id, ack) on connect, with an id usable as a destination', async () => {
    const client = new StelaceClient(gatewayHttpUrl(stack, 1), version);
    const { id, ack } = await client.authentication;
    expect(typeof ack).toBe('function');
    expect(id).toMatch(/^[a-z0-9-_]+$/i);
    ack({ publishableKey: alpha().publishableKey });
    await waitUntilReady(stack, client);
    client.close();
  });

  it('2 and 6. success sends nothing and delivers; no ack is a timeout after 2000 ms', async () => {
    const acked = new StelaceClient(gatewayHttpUrl(stack, 0), version);
    await acked.authenticate({ publishableKey: alpha().publishableKey, channels: channel('a') });
    // Connected after `acked` on the same node, so its authentication timer expires later.
    const silent = new StelaceClient(gatewayHttpUrl(stack, 0), version);
    await silent.authentication;
    await waitUntilReady(stack, acked);

    expect(await silent.next('willDisconnect')).toEqual([{ error: 'Authentication timeout after 2000ms' }]);
    expect(await silent.disconnected).toBe('io server disconnect');

    const res = await postSignal(stack, alpha().secretKey, { destination: channel('a'), message: 'hi' });
    expect(res).toEqual({ status: 200, body: { message: 'hi', destination: channel('a'), event: 'signal', env: 'test' } });
    expect(await acked.next('signal')).toEqual([{ message: 'hi', event: 'signal', env: 'test' }]);
    expect(acked.connected).toBe(true);
    expect(acked.names()).toEqual(['authentication']);
    acked.close();
  });

  it.each([
    ['3. an unknown key', { publishableKey: 'invalid' }, 'Invalid API key'],
    ['3. a well-formed key of no app', { publishableKey: 'pubk_test_AAAAAAAAAAAAAAAAAAAAAAAA' }, 'Invalid API key'],
    ['4. an empty answer', {}, 'Missing publishable API key'],
    ['4. a non-object answer', 'pubk_test_x', 'Missing publishable API key'],
    ['5. a channel that is not a string', { channels: [1] }, 'channels must be a String or an Array of Strings.'],
    ['5. channels null', { channels: null }, 'channels must be a String or an Array of Strings.'],
  ])('%s gets willDisconnect with the reason, then a server disconnect', async (_name, answer, reason) => {
    const client = new StelaceClient(gatewayHttpUrl(stack, 1), version);
    const withKey = typeof answer === 'object' && 'channels' in answer ? { ...answer, publishableKey: alpha().publishableKey } : answer;
    await client.authenticate(withKey);
    expect(await client.next('willDisconnect')).toEqual([{ error: reason }]);
    expect(await client.disconnected).toBe('io server disconnect');
  });

  it('7. delivers the event named by `event`, with the message', async () => {
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: [channel('chat')] }, { gateway: 1 });
    const res = await postSignal(stack, alpha().secretKey, { destination: channel('chat'), event: 'chat', message: { x: 1 } });
    expect(res.status).toBe(200);
    expect(await client.next('chat')).toEqual([{ message: { x: 1 }, event: 'chat', env: 'test' }]);
    client.close();
  });

  it('9. broadcasts to every socket of the app and environment, only with the permission', async () => {
    const a0 = await connectStelace(stack, version, { publishableKey: alpha().publishableKey }, { gateway: 0 });
    const a1 = await connectStelace(stack, version, { publishableKey: alpha().publishableKey }, { gateway: 1 });
    const live = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'alpha', 'live').publishableKey }, { gateway: 1, env: 'live' });
    const beta = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'beta').publishableKey }, { gateway: 0, app: 'beta' });

    const refused = await postSignal(stack, keysOf(stack, 'beta').secretKey, { message: 1 });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ message: 'Forbidden', statusCode: 403 });

    const res = await postSignal(stack, alpha().secretKey, { message: `all-${version}` });
    expect(res).toEqual({ status: 200, body: { message: `all-${version}`, event: 'signal', env: 'test' } });
    for (const { client } of [a0, a1]) expect(await client.next('signal')).toEqual([{ message: `all-${version}`, event: 'signal', env: 'test' }]);
    await assertNothingMore(live.client, live.id, 'alpha', 'live');
    await assertNothingMore(beta.client, beta.id, 'beta');
    for (const { client } of [a0, a1, live, beta]) client.close();
  });

  it('11. a connection id reaches only that socket; a user id reaches every socket of the user', async () => {
    const room = channel('room');
    const s0 = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: [room] }, { gateway: 0 });
    const s1 = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: [room] }, { gateway: 1 });
    expect((await postSignal(stack, alpha().secretKey, { destination: s0.id, message: 'just you' })).status).toBe(200);
    expect(await s0.client.next('signal')).toEqual([{ message: 'just you', event: 'signal', env: 'test' }]);
    await assertNothingMore(s1.client, s1.id);

    const ann = `usr_${version}ann`;
    const tokenA = await mintToken(stack, 'alpha', ann, 'web');
    const tokenB = await mintToken(stack, 'alpha', ann, 'phone');
    const u0 = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: tokenA }, { gateway: 0 });
    const u1 = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: tokenB, channels: [ann] }, { gateway: 1 });
    const bob = await connectStelace(stack, version, {
      publishableKey: alpha().publishableKey,
      authToken: await mintToken(stack, 'alpha', `usr_${version}bob`),
    });
    expect((await postSignal(stack, alpha().secretKey, { destination: ann, message: 'hello ann' })).status).toBe(200);
    for (const { client, id } of [u0, u1]) {
      expect(await client.next('signal')).toEqual([{ message: 'hello ann', event: 'signal', env: 'test' }]);
      await assertNothingMore(client, id);
    }
    await assertNothingMore(bob.client, bob.id);
    await assertNothingMore(s0.client, s0.id);
    for (const { client } of [s0, s1, u0, u1, bob]) client.close();
  });

  it('11. an identity that is also a requested channel name is delivered once', async () => {
    const carol = `${version}carol`;
    const token = await mintToken(stack, 'alpha', carol);
    const own = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: token, channels: [carol] }, { gateway: 0 });
    const member = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: [carol] }, { gateway: 1 });
    expect((await postSignal(stack, alpha().secretKey, { destination: carol, message: 'once' })).status).toBe(200);
    for (const { client, id } of [own, member]) {
      expect(await client.next('signal')).toEqual([{ message: 'once', event: 'signal', env: 'test' }]);
      await assertNothingMore(client, id);
    }
    own.client.close();
    member.client.close();
  });

  it('12. test never reaches live, and app A never reaches app B, with equal channel names', async () => {
    const iso = channel('iso');
    const test = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: iso }, { gateway: 0 });
    const live = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'alpha', 'live').publishableKey, channels: iso }, { gateway: 1, env: 'live' });
    const beta = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'beta').publishableKey, channels: iso }, { gateway: 0, app: 'beta' });

    expect((await postSignal(stack, alpha().secretKey, { destination: iso, message: 'test only' })).status).toBe(200);
    expect(await test.client.next('signal')).toEqual([{ message: 'test only', event: 'signal', env: 'test' }]);
    expect((await postSignal(stack, keysOf(stack, 'alpha', 'live').secretKey, { destination: iso, message: 'live only' })).status).toBe(200);
    expect(await live.client.next('signal')).toEqual([{ message: 'live only', event: 'signal', env: 'live' }]);
    await assertNothingMore(test.client, test.id);
    await assertNothingMore(live.client, live.id, 'alpha', 'live');
    await assertNothingMore(beta.client, beta.id, 'beta');

    // Another environment's or app's connection id is not a destination here.
    expect((await postSignal(stack, alpha().secretKey, { destination: live.id, message: 'x' })).status).toBe(404);
    expect((await postSignal(stack, alpha().secretKey, { destination: beta.id, message: 'x' })).status).toBe(404);
    await assertNothingMore(live.client, live.id, 'alpha', 'live');
    await assertNothingMore(beta.client, beta.id, 'beta');
    for (const { client } of [test, live, beta]) client.close();
  });
});

describe('POST /signal', () => {
  it('8. answers 404 for a destination no socket in the cluster has', async () => {
    const res = await postSignal(stack, alpha().secretKey, { destination: 'nobody' });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ message: "Signal destination 'nobody' not found", statusCode: 404 });
  });

  it('accepts a form-encoded body, trims the destination, and parses a JSON message', async () => {
    const { client } = await connectStelace(stack, 'v4', { publishableKey: alpha().publishableKey, channels: 'form' }, { gateway: 1 });
    const res = await postSignal(stack, alpha().secretKey, 'destination=%20form%20&event=note&message=%7B%22y%22%3A2%7D', 'application/x-www-form-urlencoded');
    expect(res).toEqual({ status: 200, body: { message: { y: 2 }, destination: 'form', event: 'note', env: 'test' } });
    expect(await client.next('note')).toEqual([{ message: { y: 2 }, event: 'note', env: 'test' }]);
    client.close();
  });

  it.each([
    ['no body', undefined, 'body is required'],
    ['a destination that is not a string', { destination: {} }, "'destination': must be a string"],
    ['an event with a colon', { event: 'a:b' }, "'event': must contain only letters, digits, - and _"],
    ['an unknown field', { foo: 1 }, "unknown field 'foo'"],
    ['a 257-character destination', { destination: 'd'.repeat(257) }, "'destination': must be at most 256 characters"],
    ['an empty destination', { destination: '  ' }, "'destination': must not be empty"],
    ['a JSON array', [1], 'body must be an object'],
  ])('10. answers 400 for %s, naming the problem', async (_name, body, message) => {
    const res = await postSignal(stack, alpha().secretKey, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, code: 'bad_request' });
    expect(String(res.body!.message)).toContain(message);
  });

  it.each(['connect', 'connection', 'disconnect', 'connect_error', 'newListener', 'removeListener', 'authentication', 'warning', 'willDisconnect'])(
    'refuses the reserved event name %s with 400',
    async (event) => {
      const res = await postSignal(stack, alpha().secretKey, { destination: 'x', event, message: 1 });
      expect(res.status).toBe(400);
      expect(res.body!.message).toBe(`'event': '${event}' is reserved by Socket.IO or the Stelace handshake; choose another event name`);
    },
  );

  it('answers 401 without credentials or with an unknown key, and accepts Bearer', async () => {
    expect(await postSignal(stack, undefined, { destination: 'x' })).toMatchObject({
      status: 401,
      body: { message: 'Please provide a secret or publishable API key', statusCode: 401 },
    });
    expect(await postSignal(stack, 'seck_test_AAAAAAAAAAAAAAAAAAAAAAAA', { destination: 'x' })).toMatchObject({
      status: 401,
      body: { message: 'Invalid API key' },
    });
    const { client, id } = await connectStelace(stack, 'v2', { publishableKey: alpha().publishableKey });
    const res = await fetch(`${stack.emitUrl}/signal`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alpha().secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ destination: id, message: 'bearer' }),
    });
    expect(res.status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'bearer', event: 'signal', env: 'test' }]);
    client.close();
  });
});
