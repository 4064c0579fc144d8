import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bit6Client } from '../support/bit6-client.js';
import { addressesIn, bit6, bit6Token, native } from '../support/presence.js';
import { passes } from '../support/poll.js';
import { settle } from '../support/rpc-client.js';
import { emit, keysOf, signToken, startStack, type Stack } from '../support/stack.js';

/**
 * The conformance cases of shared/spec/bit6-compat.md, with the participants of each case
 * spread over two gateway nodes. Clients are a Bit6 SDK stand-in (test/support/bit6-client.ts)
 * speaking raw frames; assertions check both the frames and what the SDK would make of them.
 * (Case 7, a killed gateway, is in node-failure.test.ts.)
 */
let stack: Stack;
const clients: Bit6Client[] = [];

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  for (const c of clients) expect(c.serverRequests).toEqual([]);
  await stack?.stop();
});

async function connect(identity: string, device: string, gateway: number): Promise<Bit6Client> {
  const client = await bit6(stack, identity, device, gateway);
  clients.push(client);
  return client;
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('1. access token and connection', () => {
  it('mints what the SDK reads and connects at the path it derives from aud, on both path forms', async () => {
    const token = await bit6Token(stack, 'bob', 'web1', 0);
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ sub: 'bob/web1', aud: `http://127.0.0.1:${String(stack.gateways[0]!.ready.port)}`, grants: { signal: true } });
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect(claims.iat).toBeTypeOf('number');
    expect(Bit6Client.urlFor(token)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/signal\/v1\/pubsub\?jwt=/);
    const a = await Bit6Client.connect(token);
    const v1 = await bit6Token(stack, 'bob', 'web1', 1, { v1: true });
    expect(Bit6Client.urlFor(v1)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/signal\/pubsub\?jwt=/);
    const b = await Bit6Client.connect(v1);
    clients.push(a, b);
    a.ws.send('_ping');
    b.ws.send('_ping');
    await a.until(() => a.raw.includes('_pong'), () => a.raw);
    await b.until(() => b.raw.includes('_pong'), () => b.raw);
    a.close();
    b.close();
  });

  it('strips a trailing slash from the audience so the SDK does not build //signal', async () => {
    const { body } = await emit(stack, '/v1/tokens', keysOf(stack, 'alpha').secretKey, { identity: 'x', device: 'd', audience: 'https://signal.example.com/' });
    expect(claimsOf(body!.token as string).aud).toBe('https://signal.example.com');
  });

  it('refuses bad and expired tokens with 401 at upgrade, on both paths', async () => {
    const base = `ws://127.0.0.1:${String(stack.gateways[1]!.ready.port)}`;
    for (const path of ['/signal/v1/pubsub', '/v1/signal/pubsub']) {
      await expect(Bit6Client.connect('x.y.z', `${base}${path}?jwt=not-a-jwt`)).rejects.toThrow(/^401 .*not a JWT/);
      await expect(Bit6Client.connect('x.y.z', `${base}${path}`)).rejects.toThrow(/^401 .*missing credentials/);
    }
    const expired = await signToken(stack, { identity: 'bob', device: 'web1', ttlSeconds: -60 });
    await expect(Bit6Client.connect(expired, `${base}/signal/v1/pubsub?jwt=${expired}`)).rejects.toThrow(/^401 .*expired/);
  });
});

describe('2. direct messages to identity, identity/device and one connection', () => {
  it('reaches every connection of a user, one device, or exactly the connection a message came from', async () => {
    const web = await connect('alice', 'web1', 0);
    const phone = await connect('alice', 'phone', 1);
    const bob = await connect('bob', 'web1', 1);
    bob.send({ to: 'alice', text: 'all' });
    for (const c of [web, phone]) {
      await c.until(() => c.messages.some((m) => m.text === 'all'), () => c.messages);
      expect(c.messages.find((m) => m.text === 'all')).toEqual({ text: 'all', from: expect.stringMatching(/^bob\/web1\/[a-z0-9]+-[a-z0-9]+$/) });
    }
    bob.send({ to: 'alice/web1', text: 'web only' });
    await web.until(() => web.messages.some((m) => m.text === 'web only'), () => web.messages);
    phone.send({ to: 'bob', text: 'from phone' });
    await bob.until(() => bob.messages.some((m) => m.text === 'from phone'), () => bob.messages);
    const phoneAddress = bob.messages.find((m) => m.text === 'from phone')!.from as string;
    expect(phoneAddress).toMatch(/^alice\/phone\//);
    bob.send({ to: phoneAddress, text: 'just you' });
    await phone.until(() => phone.messages.some((m) => m.text === 'just you'), () => phone.messages);
    // Markers sent after the messages under test prove the others were not delivered.
    bob.send({ to: 'alice', text: 'marker' });
    await web.until(() => web.messages.some((m) => m.text === 'marker'), () => web.messages);
    await phone.until(() => phone.messages.some((m) => m.text === 'marker'), () => phone.messages);
    expect(phone.messages.map((m) => m.text)).not.toContain('web only');
    expect(web.messages.map((m) => m.text)).not.toContain('just you');
    for (const c of [web, phone, bob]) c.close();
  });
});

describe('3-6. a presence channel across two nodes', () => {
  it('join, join_back, publish, state (also for a later joiner), leave and close', async () => {
    const a = await connect('anna', 'web1', 0);
    const b = await connect('bert', 'web1', 1);
    const chA = a.join('cha', { presence: true });
    // Joins are notifications: wait until A is in before B joins, as in the spec's sequence.
    await passes(async () => expect(await addressesIn(stack, 'cha')).toHaveLength(1));
    const chB = b.join('cha', { presence: true });

    // 3. A gets join from B; B gets join_back from A.
    await a.until(() => chA.participants.size === 1, () => chA.events);
    const bAddress = [...chA.participants.keys()][0]!;
    expect(bAddress).toMatch(/^bert\/web1\//);
    expect(a.framesOf('signal.join').map((f) => f.params)).toEqual([{ from: bAddress, id: 'cha' }]);
    await b.until(() => chB.participants.size === 1, () => chB.events);
    const aAddress = [...chB.participants.keys()][0]!;
    expect(aAddress).toMatch(/^anna\/web1\//);
    expect(b.framesOf('signal.join_back').map((f) => f.params)).toEqual([{ from: aAddress, id: 'cha' }]);
    expect(chA.events).toEqual([{ type: 'participant', from: bAddress, op: 1 }]);
    expect(chB.events).toEqual([{ type: 'participant', from: aAddress, op: 1 }]);

    // 4. B publishes; A gets it with from and id.
    chB.publish({ text: 'x' });
    await a.until(() => chA.events.some((e) => e.type === 'message'), () => chA.events);
    expect(a.framesOf('signal.publish').map((f) => f.params)).toEqual([{ text: 'x', from: bAddress, id: 'cha' }]);

    // 5. B's state reaches A; C, joining later on A's node, gets it with the join_back.
    chB.updateState({ s: 1 });
    await a.until(() => chA.participants.get(bAddress)?.state !== null, () => chA.events);
    expect(chA.participants.get(bAddress)!.state).toEqual({ s: 1 });
    const c = await connect('carl', 'web1', 0);
    const chC = c.join('cha', { presence: true });
    await c.until(() => chC.participants.size === 2 && chC.participants.get(bAddress)?.state !== null, () => chC.events);
    expect(chC.participants.get(bAddress)!.state).toEqual({ s: 1 });
    // From the server, right after B's join_back (B's SDK also sends it, but later and from afar).
    const frames = c.raw.map((t) => JSON.parse(t) as { method: string; params: Record<string, unknown> });
    const backB = frames.findIndex((f) => f.method === 'signal.join_back' && f.params.from === bAddress);
    expect(frames[backB + 1]).toEqual({ jsonrpc: '2.0', method: 'signal.send', params: { from: bAddress, id: 'cha', state: { s: 1 } } });
    await a.until(() => chA.participants.size === 2, () => chA.events);
    const cAddress = [...chA.participants.keys()].find((k) => k.startsWith('carl/'))!;

    // 6a. B leaves: A and C get leave from B.
    chB.leave();
    for (const [client, channel] of [[a, chA], [c, chC]] as const) {
      await client.until(() => !channel.participants.has(bAddress), () => channel.events);
      expect(channel.events.at(-1)).toEqual({ type: 'participant', from: bAddress, op: -1 });
      expect(client.framesOf('signal.leave').map((f) => f.params)).toEqual([{ from: bAddress, id: 'cha' }]);
    }

    // 6b. C's socket closes: A gets leave from C.
    c.close();
    await a.until(() => !chA.participants.has(cAddress), () => chA.events);
    expect(chA.events.at(-1)).toEqual({ type: 'participant', from: cAddress, op: -1 });
    a.close();
    b.close();
  });
});

describe('8. keepalive and unknown methods', () => {
  it('answers _ping with _pong and a request for an unknown method with -32601', async () => {
    const a = await connect('dora', 'web1', 1);
    a.ws.send('_ping');
    a.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'signal.unknown', params: {} }));
    await a.until(() => a.raw.includes('_pong') && a.raw.some((t) => t.includes('"id":7')), () => a.raw);
    const answer = JSON.parse(a.raw.find((t) => t.includes('"id":7'))!) as { id: number; error: { code: number; message: string } };
    expect(answer).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32601 } });
    expect(answer.error.message).toMatch(/signal\.unknown/);
    a.close();
  });
});

describe('native and Bit6 clients in one presence channel', () => {
  it('see each other join, publish, update state and leave', async () => {
    const b6 = await connect('bea', 'web1', 0);
    const nat = await native(stack, 'ned', 'app', 1);
    const ch = b6.join('mixed', { presence: true });
    const [b6Address] = await passes(async () => {
      const listed = await addressesIn(stack, 'mixed');
      expect(listed).toHaveLength(1);
      return listed;
    });
    expect(b6Address).toMatch(/^bea\/web1\//);
    const joined = (await nat.call('signal.join', { id: 'mixed', presence: true, state: { mic: 'on' } })) as { participants: unknown[] };
    expect(joined.participants).toEqual([{ address: b6Address, identity: 'bea', device: 'web1', joinedAt: expect.any(Number) }]);
    expect((await nat.next((f) => f.method === 'signal.join_back')).params).toEqual({ from: b6Address, id: 'mixed' });
    // A native join with a state: the Bit6 client gets the join, then the state it understands.
    await b6.until(() => ch.participants.get(nat.address)?.state != null, () => ch.events);
    expect(ch.participants.get(nat.address)!.state).toEqual({ mic: 'on' });

    ch.updateState({ typing: true });
    const state = await nat.next((f) => f.method === 'signal.publish' && f.params?.state !== undefined && f.params.from === b6Address);
    expect(state.params).toEqual({ from: b6Address, id: 'mixed', state: { typing: true } });
    ch.publish({ text: 'hello native' });
    expect((await nat.next((f) => f.method === 'signal.publish' && f.params?.text !== undefined)).params).toEqual({ text: 'hello native', from: b6Address, id: 'mixed' });

    await nat.call('signal.publish', { id: 'mixed', state: { mic: 'off' } });
    await b6.until(() => JSON.stringify(ch.participants.get(nat.address)?.state) === '{"mic":"off"}', () => ch.events);
    await nat.call('signal.publish', { id: 'mixed', text: 'hello bit6' });
    await b6.until(() => ch.events.some((e) => e.type === 'message' && e.params.text === 'hello bit6'), () => ch.events);

    await nat.call('signal.leave', { id: 'mixed' });
    await b6.until(() => !ch.participants.has(nat.address), () => ch.events);
    const again = await native(stack, 'ned', 'app', 0);
    await again.call('signal.join', { id: 'mixed', presence: true });
    await b6.until(() => ch.participants.has(again.address), () => ch.events);
    ch.leave();
    expect((await again.next((f) => f.method === 'signal.leave')).params).toEqual({ from: b6Address, id: 'mixed' });
    await settle(again, async (marker) => {
      await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { user: 'ned' }, message: marker });
    });
    b6.close();
    nat.close();
    again.close();
  });
});
