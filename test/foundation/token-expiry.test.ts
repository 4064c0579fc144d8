import { startService } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { RpcClient, type Frame } from '../support/rpc-client.js';
import { GATEWAY_ENTRY, connectNative, keysOf, mintToken, serviceEnv, signToken, startStack, type Stack } from '../support/stack.js';

/**
 * A native connection lives as long as its token: closed with 4001 when it expires, unless the
 * client sends a fresh one with `signal.auth`. Bit6 connections are left open (the SDK expects
 * that), but on every path a connection whose token has expired can start nothing a fresh
 * connection with that token could not. Tokens here live 2-3 s, shorter than emit-api mints,
 * so they are signed directly.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

const shortToken = (identity: string, device: string, ttlSeconds = 3, grants?: Record<string, unknown>) =>
  signToken(stack, { identity, device, ttlSeconds, ...(grants ? { grants } : {}) });

/** Waits on the clock (the gateway's, on this machine) until the token's `exp` second has begun. */
async function untilExpired(token: string): Promise<void> {
  const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
  await eventually(() => Date.now() >= exp * 1000, `token expiry at ${exp}`, 10_000, 20);
}

const EXPIRED = /^token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z; reconnect with a new token or refresh it with signal\.auth$/;

function expectExpired(frame: Frame): void {
  expect(frame.error).toMatchObject({ code: -32001, data: { code: 'unauthorized' } });
  expect(frame.error!.message).toMatch(EXPIRED);
}

/** Answers `_ping` with `_pong`: the connection is open and served. */
async function stillServed(client: RpcClient): Promise<void> {
  const pongs = client.raw.filter((text) => text === '_pong').length;
  client.ws.send('_ping');
  await expect.poll(() => client.raw.filter((text) => text === '_pong').length).toBe(pongs + 1);
  expect(client.ws.readyState).toBe(client.ws.OPEN);
}

describe('token expiry on native connections (TOKEN_EXPIRY=close, the default)', () => {
  it('closes a connection with 4001 once its token expires', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await shortToken('eve', 'web')}`);
    expect(await client.closed).toEqual({
      code: 4001,
      reason: 'token expired; connect again with a new token, or refresh it with signal.auth before it expires',
    });
  });

  it('keeps a connection whose client sent a fresh token with signal.auth, with the new grants', async () => {
    const first = await shortToken('fay', 'web', 3, { publish: false });
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${first}`);
    await client.call('signal.join', { id: 'long' });
    expect((await client.request('signal.publish', { id: 'long', n: 0 })).error).toMatchObject({ data: { code: 'forbidden' } });
    const result = (await client.call('signal.auth', { token: await mintToken(stack, 'alpha', 'fay', 'web') })) as { expiresAt: number };
    expect(result.expiresAt).toBeGreaterThan(Date.now() / 1000 + 3000);
    // Past the first token's expiry, the same connection still sends and receives.
    await untilExpired(first);
    await client.call('signal.publish', { id: 'long', n: 1 });
    const { status } = await fetch(`${stack.emitUrl}/v1/signals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: { channel: 'long' }, event: 'still', message: 'here' }),
    });
    expect(status).toBe(202);
    expect((await client.next((f) => f.params?.event === 'still')).params).toMatchObject({ id: 'long', message: 'here' });
    client.close();
  });

  it('refuses a token for someone else, or a bad one, and keeps the connection as it was', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', 'gil', 'web')}`);
    const foreign = await client.request('signal.auth', { token: await mintToken(stack, 'alpha', 'gil', 'phone') });
    expect(foreign.error).toMatchObject({ code: -32003, data: { code: 'forbidden', field: 'token' } });
    expect(foreign.error!.message).toMatch(/this connection is gil\/web/);
    expect((await client.request('signal.auth', { token: await mintToken(stack, 'beta', 'gil', 'web') })).error).toMatchObject({ data: { code: 'forbidden' } });
    const bad = await client.request('signal.auth', { token: 'not-a-token' });
    expect(bad.error).toMatchObject({ code: -32001, data: { code: 'unauthorized' } });
    expect((await client.request('signal.auth', {})).error).toMatchObject({ code: -32602, data: { field: 'token' } });
    await client.call('signal.join', { id: 'fine' });
    client.close();
  });

  it('has nothing to refresh on an anonymous connection', async () => {
    const anonymous = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    const refused = await anonymous.request('signal.auth', { token: await mintToken(stack, 'alpha', 'hal', 'web') });
    expect(refused.error).toMatchObject({ data: { code: 'forbidden' } });
    anonymous.close();
  });
});

describe.each([
  ['/signal/v1/pubsub', 'ivy'],
  ['/v1/signal/pubsub', 'ike'],
])('token expiry on the Bit6 path %s', (path, identity) => {
  it('refuses join, publish, send and state after exp, allows leave, stays open, and takes a refresh with signal.auth', async () => {
    const room = `room-${identity}`;
    const watcher = `watch-${identity}`;
    const listener = await connectNative(stack, { identity: watcher, device: 'web', gateway: 0 });
    await listener.call('signal.join', { id: room, presence: true });
    const token = await shortToken(identity, 'web', 3);
    const bit6 = await RpcClient.connect(`${stack.gatewayUrl()}${path}?jwt=${token}`, 'bit6');
    await bit6.call('signal.join', { id: room, presence: true });
    await listener.next((f) => f.method === 'signal.join' && f.params?.id === room);

    await untilExpired(token);
    expectExpired(await bit6.request('signal.join', { id: 'elsewhere' }));
    expectExpired(await bit6.request('signal.join', { id: room, presence: true }));
    expectExpired(await bit6.request('signal.publish', { id: room, text: 'refused-publish' }));
    expectExpired(await bit6.request('signal.publish', { id: room, state: { note: 'refused-state' } }));
    expectExpired(await bit6.request('signal.send', { to: watcher, text: 'refused-send' }));
    // The SDK sends notifications: each refusal still comes back, as an error frame with id null.
    bit6.notify('signal.publish', { id: room, text: 'refused-notification' });
    expectExpired(await bit6.next((f) => f.id === null && f.error !== undefined));
    await stillServed(bit6);

    // Leaving starts nothing, so an expired token may still leave.
    expect(await bit6.call('signal.leave', { id: room })).toEqual({ id: room });
    const left = await listener.next((f) => f.method === 'signal.leave' && f.params?.id === room);

    const { expiresAt } = (await bit6.call('signal.auth', { token: await mintToken(stack, 'alpha', identity, 'web') })) as { expiresAt: number };
    expect(expiresAt).toBeGreaterThan(Date.now() / 1000 + 60);
    await bit6.call('signal.join', { id: room, presence: true });
    await bit6.call('signal.publish', { id: room, state: { note: 'fresh-state' } });
    await bit6.call('signal.publish', { id: room, text: 'fresh-publish' });
    await bit6.call('signal.send', { to: watcher, text: 'fresh-send' });
    // Each fresh message travels the path its refused twin would have, after it: what arrives
    // first proves the refused ones were never sent.
    await listener.next((f) => f.method === 'signal.publish' && f.params?.text === 'fresh-publish');
    await listener.next((f) => f.method === 'signal.send' && f.params?.text === 'fresh-send');
    expect((await listener.next((f) => f.method === 'signal.publish' && f.params?.state !== undefined)).params?.state).toEqual({ note: 'fresh-state' });
    expect(JSON.stringify(listener.frames)).not.toContain('refused-');
    expect(left.params?.from).toMatch(new RegExp(`^${identity}/web/`));
    await stillServed(bit6);
    bit6.close();
    listener.close();
  });
});

describe('TOKEN_EXPIRY=ignore', () => {
  it('keeps native connections open past expiry, but they start nothing until refreshed', async () => {
    const gateway = await startService({ entry: GATEWAY_ENTRY, name: 'ignoring-gateway', env: { ...serviceEnv(stack), TOKEN_EXPIRY: 'ignore' } });
    try {
      const token = await shortToken('jay', 'web', 3);
      const client = await RpcClient.connect(`ws://127.0.0.1:${String(gateway.ready.port)}/v1/connect?token=${token}`);
      expect(await client.call('signal.join', { id: 'before' })).toEqual({ id: 'before' });
      await untilExpired(token);
      expectExpired(await client.request('signal.join', { id: 'after' }));
      expectExpired(await client.request('signal.join', { id: 'after', presence: true }));
      expectExpired(await client.request('signal.publish', { id: 'before', n: 1 }));
      expectExpired(await client.request('signal.send', { to: 'jay', n: 1 }));
      // Native clients are told about refused notifications as well.
      client.notify('signal.publish', { id: 'before', n: 2 });
      expectExpired(await client.next((f) => f.id === null && f.error !== undefined));
      expect(await client.call('signal.leave', { id: 'before' })).toEqual({ id: 'before' });
      await stillServed(client);
      await client.call('signal.auth', { token: await mintToken(stack, 'alpha', 'jay', 'web') });
      expect(await client.call('signal.join', { id: 'after' })).toEqual({ id: 'after' });
      client.close();
    } finally {
      await gateway.stop();
    }
  });
});
