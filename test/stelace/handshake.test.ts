import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf, mintToken, signToken, startStack, type Stack } from '../support/stack.js';
import { CLIENT_VERSIONS, StelaceClient, connectStelace, gatewayHttpUrl, postSignal } from '../support/stelace-client.js';

/** User tokens, user channels and the reasons Stelace clients get, with both client generations. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

const alpha = () => keysOf(stack, 'alpha');

async function refusedWith(version: 'v2' | 'v4', answer: Record<string, unknown>): Promise<string> {
  const client = new StelaceClient(gatewayHttpUrl(stack, 1), version);
  await client.authenticate(answer);
  const [payload] = await client.next('willDisconnect');
  expect(await client.disconnected).toBe('io server disconnect');
  return (payload as { error: string }).error;
}

/** A token that expired a minute ago, signed like the emit API signs them. */
const expiredToken = (identity: string) => signToken(stack, { identity, ttlSeconds: -60 });

describe.each(CLIENT_VERSIONS)('socket.io-client %s', (version) => {
  const user = (name: string) => `usr_${version}${name}`;

  it('joins the user channel of a valid token and the requested channels', async () => {
    const dan = user('dan');
    const token = await mintToken(stack, 'alpha', dan);
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: token, channels: [dan, `${version}-news`] });
    for (const destination of [dan, `${version}-news`]) {
      expect((await postSignal(stack, alpha().secretKey, { destination, message: destination })).status).toBe(200);
      expect(await client.next('signal')).toEqual([{ message: destination, event: 'signal', env: 'test' }]);
    }
    expect(client.names()).toEqual(['authentication']);
    client.close();
  });

  it('accepts `channel` (singular) as Stelace docs show it', async () => {
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channel: `${version}-single` });
    expect((await postSignal(stack, alpha().secretKey, { destination: `${version}-single`, message: 1 })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 1, event: 'signal', env: 'test' }]);
    client.close();
  });

  it('refuses a user channel without a token', async () => {
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, channels: [user('eve')] })).toBe('Missing authentication token');
  });

  it('refuses a token that is not a string', async () => {
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, authToken: 42 })).toBe('String authentication token expected');
  });

  it('refuses a token with a bad signature, or one of another app', async () => {
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, authToken: 'not.a.jwt' })).toBe('Invalid authentication token');
    const tampered = (await mintToken(stack, 'alpha', user('fay'))).slice(0, -4) + 'AAAA';
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, authToken: tampered })).toBe('Invalid authentication token');
    const betaToken = await mintToken(stack, 'beta', user('fay'));
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, authToken: betaToken })).toBe('Invalid authentication token');
    const liveToken = await mintToken(stack, 'alpha', user('fay'), undefined, 'live');
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, authToken: liveToken })).toBe('Invalid authentication token');
  });

  it('refuses two user channels, or another user’s channel', async () => {
    const reason = 'Can only subscribe to own user channel';
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, channels: [user('a'), user('b')] })).toBe(reason);
    const token = await mintToken(stack, 'alpha', user('a'));
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, authToken: token, channels: [user('b')] })).toBe(reason);
  });

  it('an expired token does not fail: the user channel is simply not joined', async () => {
    const gus = user('gus');
    const { client, id } = await connectStelace(stack, version, {
      publishableKey: alpha().publishableKey,
      authToken: await expiredToken(gus),
      channels: [gus, `${version}-open`],
    });
    expect((await postSignal(stack, alpha().secretKey, { destination: gus, message: 'private' })).status).toBe(404);
    expect((await postSignal(stack, alpha().secretKey, { destination: `${version}-open`, message: 'public' })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'public', event: 'signal', env: 'test' }]);
    expect(client.names()).toEqual(['authentication']);
    expect((await postSignal(stack, alpha().secretKey, { destination: id, message: 'still here' })).status).toBe(200);
    client.close();
  });

  it('warns about a channel it cannot join and stays connected', async () => {
    const long = 'x'.repeat(300);
    const { client } = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, channels: [long, `${version}-ok`] });
    expect(await client.next('warning')).toEqual([`Channel '${'x'.repeat(64)}' was not joined: it must be at most 256 characters.`]);
    expect((await postSignal(stack, alpha().secretKey, { destination: `${version}-ok`, message: 'fine' })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'fine', event: 'signal', env: 'test' }]);
    client.close();
  });

  it('organization channels need a token, and are refused with a warning since membership is unknown here', async () => {
    const org = `org_${version}team`;
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, channels: [org] })).toBe('Missing authentication token');
    const kim = user('kim');
    const { client } = await connectStelace(stack, version, {
      publishableKey: alpha().publishableKey,
      authToken: await mintToken(stack, 'alpha', kim),
      channels: [org, `${version}-team-news`],
    });
    expect(await client.next('warning')).toEqual([`${kim} was not granted access to ${org}.`]);
    expect((await postSignal(stack, alpha().secretKey, { destination: org, message: 'members' })).status).toBe(404);
    expect((await postSignal(stack, alpha().secretKey, { destination: `${version}-team-news`, message: 'all' })).status).toBe(200);
    expect(await client.next('signal')).toEqual([{ message: 'all', event: 'signal', env: 'test' }]);
    client.close();
  });

  it('a live key makes a live socket', async () => {
    const live = keysOf(stack, 'alpha', 'live');
    const { client } = await connectStelace(stack, version, { publishableKey: live.publishableKey, channels: 'prod' }, { env: 'live' });
    expect(await postSignal(stack, live.secretKey, { destination: 'prod', message: 'm' })).toEqual({
      status: 200,
      body: { message: 'm', destination: 'prod', event: 'signal', env: 'live' },
    });
    expect(await client.next('signal')).toEqual([{ message: 'm', event: 'signal', env: 'live' }]);
    client.close();
  });

  it('an anonymous socket cannot request a user channel; the owner gets the user’s signals', async () => {
    const hal = user('hal');
    const owner = await connectStelace(stack, version, { publishableKey: alpha().publishableKey, authToken: await mintToken(stack, 'alpha', hal) });
    // Without a token a user channel cannot be requested at all; anonymous sockets only get public channels.
    expect(await refusedWith(version, { publishableKey: alpha().publishableKey, channels: hal })).toBe('Missing authentication token');
    expect((await postSignal(stack, alpha().secretKey, { destination: hal, message: 'for hal' })).status).toBe(200);
    expect(await owner.client.next('signal')).toEqual([{ message: 'for hal', event: 'signal', env: 'test' }]);
    owner.client.close();
  });
});
