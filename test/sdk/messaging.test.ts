import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { Signal, SignalClientError, type Incoming } from '@signal/client';
import { emit, keysOf, startStack, type Stack } from '../support/stack.js';
import { client, closeClients, next, record, waitFor } from './support.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterEach(() => closeClients());
afterAll(async () => {
  await stack?.stop();
});

type Chat = { kind: 'chat'; text: string } | { kind: 'marker'; n: number };

describe('connecting', () => {
  it('connects, announces its states and its address', async () => {
    const alice = client(stack, 'alice', 'web');
    const states = record(alice, 'connecting');
    expect(alice.state).toBe('connecting');
    const [info] = await next(alice, 'connected');
    expect(info).toEqual({ address: alice.address, reconnected: false });
    expect(alice.address).toMatch(/^alice\/web\/[a-z0-9]+-[a-z0-9]+$/);
    expect(alice.state).toBe('connected');
    expect(states).toEqual([[{ attempt: 0, url: stack.gatewayUrl(0) }]]);
    await alice.ready();
  });

  it('uses the WebSocket option in Node 20, and says how to get one when there is none', () => {
    const platform = (globalThis as { WebSocket?: unknown }).WebSocket;
    const make = () => new Signal('token', { url: stack.gatewayUrl(0) });
    if (platform === undefined) {
      expect(make).toThrow(SignalClientError);
      expect(make).toThrow(/no WebSocket \(Node 20 has none built in\): install 'ws' and pass it/);
    } else {
      make().close();
    }
  });

  it('refuses unusable options with a clear error', () => {
    expect(() => client(stack, 'x', 'y', { url: 'localhost:8080' })).toThrow(/must start with ws:\/\/, wss:\/\/, http:\/\/ or https:\/\//);
    expect(() => client(stack, 'x', 'y', { url: [] })).toThrow(/empty list/);
    expect(() => client(stack, 'x', 'y', { queueLimit: -1 })).toThrow(/options\.queueLimit/);
    expect(() => client(stack, 'x', 'y', { offline: 'drop' as 'queue' })).toThrow(/options\.offline/);
  });
});

describe('direct messages', () => {
  it('reach every connection of a user, one device, or one exact connection, across gateways', async () => {
    const web = client<Chat>(stack, 'alice', 'web', { gateway: 0 });
    const phone = client<Chat>(stack, 'alice', 'phone', { gateway: 1 });
    const bob = client<Chat>(stack, 'bob', 'web', { gateway: 1 });
    await Promise.all([web.ready(), phone.ready(), bob.ready()]);
    const webGot = record(web, 'message');
    const phoneGot = record(phone, 'message');

    bob.send({ to: 'alice', kind: 'chat', text: 'to both' });
    await waitFor('both devices to get the message', () => webGot.length === 1 && phoneGot.length === 1);
    expect(webGot[0]![0]).toEqual({ kind: 'chat', text: 'to both', from: bob.address });

    bob.send({ to: 'alice/phone', kind: 'chat', text: 'phone only' });
    bob.send({ to: web.address!, kind: 'chat', text: 'this connection only' });
    bob.send({ to: 'alice', kind: 'marker', n: 1 });
    await waitFor('the marker on both', () => webGot.length === 3 && phoneGot.length === 3);
    expect(webGot.map(([m]) => (m.kind === 'chat' ? m.text : 'marker'))).toEqual(['to both', 'this connection only', 'marker']);
    expect(phoneGot.map(([m]) => (m.kind === 'chat' ? m.text : 'marker'))).toEqual(['to both', 'phone only', 'marker']);

    // Replying to `from` reaches exactly the sender's connection.
    const reply = next(bob, 'message');
    web.send({ to: webGot[0]![0].from!, kind: 'chat', text: 'reply' });
    expect((await reply)[0]).toMatchObject({ text: 'reply', from: web.address });
  });

  it('are queued while connecting and sent once connected, in order', async () => {
    const bob = client(stack, 'bob', 'web', { gateway: 1 });
    await bob.ready();
    const got = record(bob, 'message');
    const alice = client(stack, 'alice', 'web');
    expect(alice.state).toBe('connecting');
    const reused = { to: 'bob', n: 0 };
    for (let n = 0; n < 5; n++) {
      reused.n = n;
      alice.send(reused);
    }
    await waitFor('five messages', () => got.length === 5);
    // Each message is taken as it was when sent, though the app reused the object.
    expect(got.map(([m]) => m.n)).toEqual([0, 1, 2, 3, 4]);
  });

  it("with { ack: true } resolve once delivered and reject with the server's typed error", async () => {
    const alice = client(stack, 'alice', 'web');
    const bob = client(stack, 'bob', 'web', { gateway: 1 });
    await Promise.all([alice.ready(), bob.ready()]);
    await expect(alice.send({ to: 'bob', text: 'confirmed' }, { ack: true })).resolves.toBeUndefined();

    const error = await alice.send({ to: 'nobody-online', text: 'x' }, { ack: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignalClientError);
    expect(error).toMatchObject({ code: 'not_found', rpcCode: -32004, field: 'to', message: "no connection is online at 'nobody-online'" });

    await expect(alice.send({ to: 'a/b/c/d' }, { ack: true })).rejects.toMatchObject({ code: 'invalid_params', field: 'to' });
    await expect(alice.send({ to: 'bob', blob: 'x'.repeat(70 * 1024) }, { ack: true })).rejects.toMatchObject({
      code: 'payload_too_large',
      message: expect.stringMatching(/over the 65536-byte limit; send less, or raise options.maxFrameBytes/),
    });
    expect(() => alice.send({ to: 'bob', blob: 'é'.repeat(33 * 1024) })).toThrow(/over the 65536-byte limit/);
    // The connection survives all of it.
    await expect(alice.send({ to: 'bob', text: 'still here' }, { ack: true })).resolves.toBeUndefined();
    expect(alice.state).toBe('connected');
  });

  it('report a failed fire-and-forget message as an error event', async () => {
    const provider = async () => {
      const res = await emit(stack, '/v1/tokens', keysOf(stack, 'alpha').secretKey, { identity: 'viewer', grants: { publish: false } });
      return res.body!.token as string;
    };
    const viewer = client(stack, 'viewer', 'default', { provider: Object.assign(provider, { calls: 0, tokens: [] }) });
    await viewer.ready();
    const failed = next(viewer, 'error');
    viewer.send({ to: 'bob', text: 'not allowed' });
    const [error] = await failed;
    expect(error).toMatchObject({ code: 'forbidden', rpcCode: -32003 });
    expect(error.message).toMatch(/grants do not allow publishing/);
    await expect(viewer.send({ to: 'bob' }, { ack: true })).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('keep coming when an app listener throws', async () => {
    const alice = client(stack, 'alice', 'web');
    const bob = client(stack, 'bob', 'web', { gateway: 1 });
    await Promise.all([alice.ready(), bob.ready()]);
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      bob.on('message', () => {
        throw new Error('app bug');
      });
      const got = record(bob, 'message');
      alice.send({ to: 'bob', n: 1 });
      alice.send({ to: 'bob', n: 2 });
      await waitFor('both messages', () => got.length === 2);
      expect(logged).toHaveBeenCalledWith('signal client: an event listener threw', expect.objectContaining({ message: 'app bug' }));
      expect(bob.state).toBe('connected');
    } finally {
      logged.mockRestore();
    }
  });

  it('from a backend through the emit API arrive without from', async () => {
    const alice = client(stack, 'alice', 'web');
    await alice.ready();
    const got = next(alice, 'message');
    const res = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { user: 'alice' }, event: 'invite', message: { call: 7 } });
    expect(res.status).toBe(202);
    expect((await got)[0]).toEqual({ event: 'invite', message: { call: 7 } });
  });
});

describe('channels', () => {
  it('deliver publishes to members on other gateways, not back to the sender, and not after leave', async () => {
    const alice = client<Chat>(stack, 'alice', 'web', { gateway: 0 });
    const bob = client<Chat>(stack, 'bob', 'web', { gateway: 1 });
    const roomA = alice.join('room 1 ✓');
    const roomB = bob.join('room 1 ✓');
    expect(alice.channels.get('room 1 ✓')).toBe(roomA);
    expect(alice.join('room 1 ✓')).toBe(roomA);
    await Promise.all([roomA.joined, roomB.joined]);
    expect(roomA.isJoined).toBe(true);
    const bobGot = record(roomB, 'message');
    const aliceGot = record(roomA, 'message');
    const direct = record(bob, 'message');

    roomA.publish({ kind: 'chat', text: 'hello room' });
    await waitFor('bob to get it', () => bobGot.length === 1);
    expect(bobGot[0]![0]).toEqual({ kind: 'chat', text: 'hello room', id: 'room 1 ✓', from: alice.address });
    roomB.publish({ kind: 'marker', n: 1 });
    await waitFor("bob's marker at alice", () => aliceGot.length === 1);
    expect(aliceGot[0]![0]).toMatchObject({ kind: 'marker', from: bob.address });
    expect(direct).toEqual([]);

    await roomB.leave();
    expect(bob.channels.has('room 1 ✓')).toBe(false);
    expect(() => roomB.publish({ kind: 'chat', text: 'after leave' })).toThrow(/was left; join it again/);
    roomA.publish({ kind: 'chat', text: 'after bob left' });
    // Proof of absence: a direct message sent after it arrives, the channel message does not.
    alice.send({ to: bob.address!, kind: 'marker', n: 2 });
    await waitFor('the direct marker', () => direct.length === 1);
    expect(bobGot).toHaveLength(1);
  });

  it('deliver a channel-scoped direct message to the channel, and drop it when not joined', async () => {
    const alice = client(stack, 'alice', 'web');
    const bob = client(stack, 'bob', 'web', { gateway: 1 });
    const room = bob.join('scoped');
    await Promise.all([alice.ready(), room.joined]);
    const inRoom = record(room, 'message');
    const direct = record(bob, 'message');
    alice.send({ to: bob.address!, id: 'scoped', text: 'in the room' });
    alice.send({ to: bob.address!, id: 'not-joined', text: 'dropped' });
    alice.send({ to: bob.address!, text: 'plain' });
    await waitFor('the plain message', () => direct.length === 1);
    await waitFor('the scoped message', () => inRoom.length === 1);
    expect(inRoom[0]![0]).toEqual({ id: 'scoped', text: 'in the room', from: alice.address });
    expect(direct.map(([m]) => m.text)).toEqual(['plain']);
  });

  it('receive backend signals from the emit API', async () => {
    const alice = client(stack, 'alice', 'web', { gateway: 1 });
    const news = alice.join('news');
    await news.joined;
    const got = next(news, 'message');
    await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'news' }, event: 'headline', message: 'hi' });
    expect((await got)[0]).toEqual({ id: 'news', event: 'headline', message: 'hi' });
  });

  it('publish with { ack: true } resolves once the gateway took it, and rejects typed errors', async () => {
    const alice = client(stack, 'alice', 'web');
    const room = alice.join('acked');
    await expect(room.publish({ text: 'ok' }, { ack: true })).resolves.toBeUndefined();
    await expect(room.publish({ blob: 'x'.repeat(70 * 1024) }, { ack: true })).rejects.toMatchObject({ code: 'payload_too_large' });
  });

  it("report the gateway's own refusal of an oversize frame when the client allows more", async () => {
    const alice = client(stack, 'alice', 'web', { maxFrameBytes: 1024 * 1024 });
    const room = alice.join('big');
    await room.joined;
    const failed = next(alice, 'error');
    room.publish({ blob: 'x'.repeat(70 * 1024) });
    expect((await failed)[0]).toMatchObject({ code: 'payload_too_large', rpcCode: -32013 });
    await expect(room.publish({ text: 'small' }, { ack: true })).resolves.toBeUndefined();
  });

  it('refuse an invalid name at once', () => {
    const alice = client(stack, 'alice', 'web');
    expect(() => alice.join('')).toThrow(/1 to 256 characters/);
    expect(() => alice.join('x'.repeat(257))).toThrow(SignalClientError);
  });
});

describe('offline policy', () => {
  it("with offline: 'reject', refuses while not connected instead of queueing", async () => {
    const alice = client(stack, 'alice', 'web', { offline: 'reject' });
    expect(() => alice.send({ to: 'bob' })).toThrow(expect.objectContaining({ code: 'not_connected' }));
    await expect(alice.send({ to: 'bob' }, { ack: true })).rejects.toMatchObject({ code: 'not_connected' });
    await alice.ready();
    expect(() => alice.send({ to: 'bob' })).not.toThrow();
  });

  it('refuses beyond queueLimit, keeping what was queued', async () => {
    const bob = client(stack, 'bob', 'web');
    await bob.ready();
    const got = record(bob, 'message');
    const alice = client(stack, 'alice', 'web', { queueLimit: 2 });
    alice.send({ to: 'bob', n: 1 });
    alice.send({ to: 'bob', n: 2 });
    expect(() => alice.send({ to: 'bob', n: 3 })).toThrow(/2 messages are already waiting for the connection/);
    await expect(alice.send({ to: 'bob', n: 4 }, { ack: true })).rejects.toMatchObject({ code: 'queue_full' });
    await waitFor('the two queued messages', () => got.length === 2);
    expect(got.map(([m]) => m.n)).toEqual([1, 2]);
  });

  it('close() refuses what is still queued and everything after', async () => {
    const alice = client(stack, 'alice', 'web');
    const errors = record(alice, 'error');
    const acked = alice.send({ to: 'bob' }, { ack: true });
    alice.send({ to: 'bob' });
    alice.close();
    await expect(acked).rejects.toMatchObject({ code: 'closed' });
    expect(errors.map(([e]) => e.message)).toEqual(['1 queued direct message(s) were not sent: the client was closed']);
    expect(alice.state).toBe('disconnected');
    await expect(alice.ready()).rejects.toMatchObject({ code: 'closed' });
    expect(() => alice.send({ to: 'bob' })).toThrow(/the client was closed/);
    expect(() => alice.join('x')).toThrow(/the client was closed/);
  });
});

describe('types', () => {
  it('carry message and state types end to end', () => {
    type Typing = { typing: boolean };
    const signal = client<Chat, Typing>(stack, 'alice', 'web');
    const room = signal.join('typed', { presence: true, state: { typing: false } });
    expectTypeOf(room.publish).parameter(0).toEqualTypeOf<Chat>();
    expectTypeOf(room.me.updateState).parameter(0).toEqualTypeOf<Typing>();
    expectTypeOf(room.me.state).toEqualTypeOf<Typing | undefined>();
    expectTypeOf<Parameters<Parameters<typeof room.on<'message'>>[1]>[0]>().toEqualTypeOf<Incoming<Chat>>();
    expectTypeOf(signal.send).toBeCallableWith({ to: 'bob', kind: 'marker', n: 1 });
    // Compiled, never run: these calls must not type-check.
    const _wrong = () => {
      // @ts-expect-error a chat message needs text
      void signal.send({ to: 'bob', kind: 'chat' });
      // @ts-expect-error a direct message needs `to`
      void signal.send({ kind: 'marker', n: 1 });
      // @ts-expect-error an acked send returns a promise
      const _sync: undefined = signal.send({ to: 'bob', kind: 'marker', n: 1 }, { ack: true });
    };
    const other = signal.join<{ x: number }>('other');
    expectTypeOf(other.publish).parameter(0).toEqualTypeOf<{ x: number }>();
  });
});

