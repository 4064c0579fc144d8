import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient, settle } from '../support/rpc-client.js';
import { connectNative, emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

function connect(app: 'alpha' | 'beta', identity: string, device: string, gateway: number, env: 'test' | 'live' = 'test') {
  return connectNative(stack, { app, identity, device, gateway, env });
}

describe('channels across two gateway nodes', () => {
  it('delivers an HTTP emit to members on both nodes, with event and message', async () => {
    const a = await connect('alpha', 'ann', 'web', 0);
    const b = await connect('alpha', 'ben', 'web', 1);
    await a.call('signal.join', { id: 'lobby' });
    await b.call('signal.join', { id: 'lobby' });
    const res = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'lobby' }, event: 'chat', message: { x: 1 } });
    expect(res).toEqual({ status: 202, body: { accepted: 1, deliveries: 1 } });
    for (const client of [a, b]) {
      const frame = await client.next((f) => f.method === 'signal.publish');
      expect(frame.params).toEqual({ id: 'lobby', event: 'chat', message: { x: 1 } });
    }
    a.close();
    b.close();
  });

  it('delivers a client publish on node A to members on node B, with from, but not back to the sender', async () => {
    const a = await connect('alpha', 'ann', 'web', 0);
    const b = await connect('alpha', 'ben', 'phone', 1);
    const channel = 'room.with * odd > chars ✓';
    await a.call('signal.join', { id: channel });
    await b.call('signal.join', { id: channel });
    expect(await a.call('signal.publish', { id: channel, text: 'hi', from: 'spoofed' })).toEqual({});
    const frame = await b.next((f) => f.method === 'signal.publish');
    expect(frame.params).toEqual({ id: channel, text: 'hi', from: a.address });
    expect(a.address).toMatch(/^ann\/web\/[a-z0-9]+-[a-z0-9]+$/);
    await settle(a, async (marker) => {
      await b.call('signal.publish', { id: channel, marker });
    });
    expect(a.received('signal.publish').filter((f) => f.params?.text === 'hi')).toEqual([]);
    a.close();
    b.close();
  });

  it('stops delivering after leave', async () => {
    const a = await connect('alpha', 'ann', 'web', 0);
    const b = await connect('alpha', 'ben', 'web', 1);
    await a.call('signal.join', { id: 'short' });
    await a.call('signal.join', { id: 'marker' });
    await b.call('signal.join', { id: 'short' });
    await b.call('signal.join', { id: 'marker' });
    expect(await a.call('signal.leave', { id: 'short' })).toEqual({ id: 'short' });
    await b.call('signal.publish', { id: 'short', text: 'gone' });
    await settle(a, async (marker) => {
      await b.call('signal.publish', { id: 'marker', marker });
    });
    expect(a.received('signal.publish')).toEqual([]);
    a.close();
    b.close();
  });
});

describe('direct messages across two gateway nodes', () => {
  it('reaches every connection of a user, only one device, or exactly one connection', async () => {
    const web = await connect('alpha', 'alice', 'web1', 0);
    const phone = await connect('alpha', 'alice', 'phone', 1);
    const web2 = await connect('alpha', 'alice', 'web1', 1);
    const bob = await connect('alpha', 'bob', 'web1', 0);

    await bob.call('signal.send', { to: 'alice', text: 'all' });
    for (const c of [web, phone, web2]) {
      expect((await c.next((f) => f.method === 'signal.send')).params).toEqual({ text: 'all', from: bob.address });
    }

    await bob.call('signal.send', { to: 'alice/web1', text: 'device' });
    for (const c of [web, web2]) expect((await c.next((f) => f.method === 'signal.send')).params?.text).toBe('device');

    await bob.call('signal.send', { to: web2.address, text: 'one' });
    expect((await web2.next((f) => f.method === 'signal.send')).params?.text).toBe('one');

    await settle(phone, async (marker) => {
      await bob.call('signal.send', { to: phone.address, marker });
    });
    await settle(web, async (marker) => {
      await bob.call('signal.send', { to: web.address, marker });
    });
    expect(phone.received('signal.send')).toEqual([]);
    expect(web.received('signal.send')).toEqual([]);

    // Replying to a received `from` reaches exactly that connection.
    await web2.call('signal.send', { to: bob.address, text: 'reply' });
    expect((await bob.next((f) => f.method === 'signal.send')).params).toEqual({ text: 'reply', from: web2.address });
    for (const c of [web, phone, web2, bob]) c.close();
  });

  it('confirms a send only when someone is online, and says who is not', async () => {
    const bob = await connect('alpha', 'bob', 'web1', 0);
    const reply = await bob.request('signal.send', { to: 'nobody', text: 'x' });
    expect(reply.error).toMatchObject({ code: -32004, data: { code: 'not_found', field: 'to' } });
    expect(reply.error!.message).toContain("'nobody'");
    const ghost = await bob.request('signal.send', { to: `bob/web1/${bob.address.split('/')[2]!.split('-')[0]}-zzzz`, text: 'x' });
    expect(ghost.error?.data?.code).toBe('not_found');
    bob.close();
  });

  it('delivers emit-api signals to a user, a device and a connection', async () => {
    const alice = await connect('alpha', 'alice', 'tab', 1);
    const { secretKey } = keysOf(stack, 'alpha');
    for (const to of [{ user: 'alice' }, { device: 'alice/tab' }, { connection: alice.address }]) {
      const res = await emit(stack, '/v1/signals', secretKey, { to, event: 'ping', message: to });
      expect(res.status).toBe(202);
      expect((await alice.next((f) => f.method === 'signal.send')).params).toEqual({ event: 'ping', message: to });
    }
    alice.close();
  });
});

describe('isolation', () => {
  it('test env never reaches live, app A never reaches app B, with the same names', async () => {
    const alphaLive = await connect('alpha', 'alice', 'web', 0, 'live');
    const beta = await connect('beta', 'alice', 'web', 1);
    const alphaTest = await connect('alpha', 'alice', 'web', 1);
    for (const c of [alphaLive, beta, alphaTest]) await c.call('signal.join', { id: 'shared' });

    await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: [{ channel: 'shared' }, { user: 'alice' }], message: 'secret' });
    await alphaTest.next((f) => f.method === 'signal.publish');
    await alphaTest.next((f) => f.method === 'signal.send');
    await alphaTest.call('signal.publish', { id: 'shared', text: 'also secret' });
    await alphaTest.call('signal.send', { to: 'alice', text: 'also secret' });

    await settle(alphaLive, async (marker) => {
      await emit(stack, '/v1/signals', keysOf(stack, 'alpha', 'live').secretKey, { to: { channel: 'shared' }, message: marker });
    });
    await settle(beta, async (marker) => {
      await emit(stack, '/v1/signals', keysOf(stack, 'beta').secretKey, { to: { channel: 'shared' }, message: marker });
    });
    for (const c of [alphaLive, beta]) {
      expect(JSON.stringify(c.frames)).not.toContain('secret');
    }
    // A connection address from another app is not reachable either.
    const probe = await alphaTest.request('signal.send', { to: beta.address, text: 'x' });
    expect(probe.error?.data?.code).toBe('not_found');
    for (const c of [alphaLive, beta, alphaTest]) c.close();
  });

  it('refuses a secret key of one app acting on another app’s tokens', async () => {
    const res = await emit(stack, '/v1/signals', keysOf(stack, 'beta', 'live').secretKey, { to: { channel: 'x' } });
    expect(res.status).toBe(202);
    const forged = await emit(stack, '/v1/signals', 'seck_test_' + 'A'.repeat(32), { to: { channel: 'x' } });
    expect(forged).toMatchObject({ status: 401, body: { code: 'unauthorized', message: 'Invalid API key' } });
  });
});

describe('anonymous, receive-only connections', () => {
  it('join and receive with a publishable key, and cannot publish or send', async () => {
    const { publishableKey, secretKey } = keysOf(stack, 'alpha');
    const anon = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?key=${publishableKey}`);
    expect(anon.address).toMatch(/^\$anon\/\$anon\//);
    await anon.call('signal.join', { id: 'news' });
    await emit(stack, '/v1/signals', secretKey, { to: { channel: 'news' }, message: 'headline' });
    expect((await anon.next((f) => f.method === 'signal.publish')).params?.message).toBe('headline');
    const publish = await anon.request('signal.publish', { id: 'news', text: 'x' });
    expect(publish.error).toMatchObject({ code: -32003, data: { code: 'forbidden' } });
    expect(publish.error!.message).toContain('receive-only');
    const send = await anon.request('signal.send', { to: 'alice', text: 'x' });
    expect(send.error?.data?.code).toBe('forbidden');
    anon.close();
  });

  it('honours a token whose grants forbid publishing', async () => {
    const token = await mintToken(stack, 'alpha', 'viewer', 'tv', 'test', { grants: { publish: false } });
    const viewer = await RpcClient.connect(`${stack.gatewayUrl(1)}/v1/connect?token=${token}`);
    await viewer.call('signal.join', { id: 'news' });
    expect((await viewer.request('signal.publish', { id: 'news', x: 1 })).error?.data?.code).toBe('forbidden');
    viewer.close();
  });

  it('delivers broadcasts only with the broadcast permission', async () => {
    const anon = await RpcClient.connect(`${stack.gatewayUrl(1)}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    const ok = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { broadcast: true }, message: 'all hands' });
    expect(ok.status).toBe(202);
    expect((await anon.next((f) => f.method === 'signal.send')).params?.message).toBe('all hands');
    const denied = await emit(stack, '/v1/signals', keysOf(stack, 'beta').secretKey, { to: { broadcast: true }, message: 'x' });
    expect(denied).toMatchObject({ status: 403, body: { code: 'forbidden', field: 'to' } });
    anon.close();
  });
});
