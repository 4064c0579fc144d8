import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/admin.js';
import { eventually } from '../support/poll.js';
import type { Frame, RpcClient } from '../support/rpc-client.js';
import { connectNative, startStack, type NativeUser, type Stack } from '../support/stack.js';
import { directPayloads, emitDirect, emitTo, payloads, positionOf, sinceQuery, withHistory, type Position } from './support.js';

let stack: Stack;

/**
 * Alpha's test environment keeps direct messages (5 per user and per device, a minute) and
 * `hist-*` channels with that window; `small-*` channels keep only their last 2.
 */
beforeAll(async () => {
  stack = await startStack({ gateways: 2, configureApps: withHistory(5, { directMessages: true, namespaces: { 'small-*': { history: { maxMessages: 2 } } } }) });
});
afterAll(async () => {
  await stack?.stop();
});

/** Every frame the client got, in order (`next` takes frames out of `frames`; `raw` keeps them all). */
function everything(client: RpcClient): Frame[] {
  return client.raw.filter((text) => text !== '_pong').map((text) => JSON.parse(text) as Frame);
}

function connected(client: RpcClient): Frame {
  return everything(client).find((f) => f.method === 'signal.connected')!;
}

/** Where the connection's direct messages stood when it connected. */
function directAt(client: RpcClient): Record<string, unknown> {
  return connected(client).params!.direct as Record<string, unknown>;
}

async function reconnect(user: NativeUser, since: Position): Promise<RpcClient> {
  return connectNative(stack, { ...user, query: sinceQuery(since) });
}

describe('direct-message recovery (raw protocol)', () => {
  it('gives a user back on another gateway exactly what its user and device missed, in order, before signal.connected and live messages', async () => {
    const user = { identity: 'dana', device: 'web', gateway: 0 };
    const dana = await connectNative(stack, user);
    const bob = await connectNative(stack, { identity: 'bob', device: 'web', gateway: 1 });
    expect(directAt(dana)).toEqual({ position: { offset: expect.any(Number), epoch: expect.any(String) } });

    // Live, each with its position.
    await emitDirect(stack, { user: 'dana' }, 'seen-user');
    await emitDirect(stack, { device: 'dana/web' }, 'seen-device');
    await eventually(() => directPayloads(dana).length === 2, 'the live direct messages');
    const last = positionOf(dana.received('signal.send').at(-1)!);
    expect(last.epoch).toBe((directAt(dana).position as Position).epoch);
    dana.close();
    await dana.closed;

    // Missed: to the user and to the device, from the emit-api and from a client on the other gateway.
    await emitDirect(stack, { user: 'dana' }, 'missed-1');
    await emitDirect(stack, { device: 'dana/web' }, 'missed-2');
    expect((await bob.call('signal.send', { to: 'dana', text: 'missed-3' })) as unknown).toEqual({});
    await bob.call('signal.send', { to: 'dana/web', text: 'missed-4' });
    // Another device's messages are not this connection's.
    await emitDirect(stack, { device: 'dana/phone' }, 'other-device');

    const back = await reconnect({ ...user, gateway: 1 }, last);
    expect(directPayloads(back)).toEqual(['missed-1', 'missed-2', 'missed-3', 'missed-4']);
    const sends = back.received('signal.send');
    const offsets = sends.map((f) => positionOf(f).offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets[0]).toBeGreaterThan(last.offset);
    expect(sends[2]!.params!.from).toBe(bob.address);
    // Every missed message came before signal.connected, which says they were all there.
    expect(everything(back).map((f) => f.method)).toEqual([...sends.map(() => 'signal.send'), 'signal.connected']);
    expect(directAt(back)).toEqual({ position: { offset: expect.any(Number), epoch: last.epoch }, recovered: true });

    await bob.call('signal.send', { to: 'dana', text: 'live' });
    await eventually(() => directPayloads(back).length === 5, 'the live message');
    expect(directPayloads(back)).toEqual(['missed-1', 'missed-2', 'missed-3', 'missed-4', 'live']);
    expect(sample(await scrape(stack.gateways[1]!), 'signal_gateway_recoveries_total', { kind: 'direct', result: 'recovered' })).toBeGreaterThanOrEqual(1);
    back.close();
    bob.close();
  });

  it('says "not recovered" (window) when more was missed than the window keeps, delivers none of it, and goes on live', async () => {
    const user = { identity: 'erin', device: 'web', gateway: 0 };
    const erin = await connectNative(stack, user);
    const since = directAt(erin).position as Position;
    erin.close();
    await erin.closed;
    for (let i = 0; i < 6; i++) await emitDirect(stack, { user: 'erin' }, `missed-${i}`);

    const back = await reconnect({ ...user, gateway: 1 }, since);
    expect(directAt(back)).toMatchObject({ recovered: false, reason: 'window' });
    expect(directPayloads(back)).toEqual([]);
    await emitDirect(stack, { user: 'erin' }, 'live');
    await back.next((f) => f.params?.message === 'live');
    back.close();
  });

  it('recovers only the connecting user\'s own messages, whatever position it brings', async () => {
    const frank = await connectNative(stack, { identity: 'frank', device: 'web', gateway: 0 });
    const since = directAt(frank).position as Position;
    frank.close();
    await frank.closed;
    await emitDirect(stack, { user: 'frank' }, 'for-frank');
    await emitDirect(stack, { device: 'frank/web' }, 'for-frank-web');

    // Same device name, another user, frank's position: nothing of frank's.
    const grace = await reconnect({ identity: 'grace', device: 'web', gateway: 1 }, since);
    expect(directAt(grace)).toMatchObject({ recovered: true });
    expect(directPayloads(grace)).toEqual([]);
    const back = await reconnect({ identity: 'frank', device: 'web', gateway: 1 }, since);
    expect(directPayloads(back)).toEqual(['for-frank', 'for-frank-web']);
    grace.close();
    back.close();
  });

  it('refuses a malformed since at connect with 400', async () => {
    await expect(connectNative(stack, { identity: 'dana', device: 'web', gateway: 0, query: 'since=12' })).rejects.toThrow(/400/);
    await expect(connectNative(stack, { identity: 'dana', device: 'web', gateway: 0, query: 'since=-1:abc' })).rejects.toThrow(/400/);
  });
});

describe('windows per namespace', () => {
  it('serves each namespace its own window from the one stream', async () => {
    const user = { identity: 'hank', device: 'web', gateway: 0 };
    const hank = await connectNative(stack, user);
    const small = (await hank.call('signal.join', { id: 'small-1' })) as { position: Position };
    const wide = (await hank.call('signal.join', { id: 'hist-wide' })) as { position: Position };
    hank.close();
    await hank.closed;
    for (let i = 0; i < 3; i++) {
      await emitTo(stack, 'small-1', `s${i}`);
      await emitTo(stack, 'hist-wide', `w${i}`);
    }
    const back = await connectNative(stack, { ...user, gateway: 1 });
    // 3 missed: more than small-*'s 2, within the environment's 5.
    expect(await back.call('signal.join', { id: 'small-1', since: small.position })).toMatchObject({ recovered: false, reason: 'window' });
    expect(await back.call('signal.join', { id: 'hist-wide', since: wide.position })).toMatchObject({ recovered: true });
    expect(payloads(back, 'small-1')).toEqual([]);
    expect(payloads(back, 'hist-wide')).toEqual(['w0', 'w1', 'w2']);
    back.close();
  });
});
