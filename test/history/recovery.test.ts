import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, passes } from '../support/poll.js';
import type { RpcClient } from '../support/rpc-client.js';
import { connectNative, emit, keysOf, startStack, type Stack } from '../support/stack.js';
import { getOccupancy } from '../support/occupancy.js';
import { emitTo, payloads, positionOf, withHistory, type Position } from './support.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2, configureApps: withHistory(5) });
});
afterAll(async () => {
  await stack?.stop();
});

async function join(client: RpcClient, channel: string, since?: Position): Promise<Record<string, unknown>> {
  return (await client.call('signal.join', since === undefined ? { id: channel } : { id: channel, since })) as Record<string, unknown>;
}

describe('recovery on reconnect (raw protocol)', () => {
  it('counts a connection joined to a history channel in its occupancy, and not after it leaves', async () => {
    const channel = 'hist-counted';
    const first = await connectNative(stack, { identity: 'carl', device: 'web', gateway: 0 });
    const since = (await join(first, channel)).position as Position;
    first.close();
    await first.closed;
    // A join that recovers (`since`) is held while the history is read: counted all the same.
    const carl = await connectNative(stack, { identity: 'carl', device: 'web', gateway: 0 });
    await join(carl, channel, since);
    await passes(async () => expect((await getOccupancy(stack, channel)).body).toEqual({ channel, connections: 1, participants: 0 }));
    await carl.call('signal.leave', { id: channel });
    await passes(async () => expect((await getOccupancy(stack, channel)).body).toEqual({ channel, connections: 0, participants: 0 }));
    carl.close();
  });

  it('gives a client that reconnects to another gateway exactly what it missed, in order, then live messages', async () => {
    const channel = 'hist-failover';
    const alice = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 0 });
    const bob = await connectNative(stack, { identity: 'bob', device: 'web', gateway: 1 });
    const joined = await join(alice, channel);
    await join(bob, channel);
    expect(joined.position).toMatchObject({ offset: expect.any(Number), epoch: expect.any(String) });

    await emitTo(stack, channel, 'before');
    const seen = await alice.next((f) => f.method === 'signal.publish' && f.params!.id === channel);
    const last = positionOf(seen);
    expect(last.epoch).toBe((joined.position as Position).epoch);
    alice.close();
    await alice.closed;

    // Missed: from the emit-api and from a client on the other gateway, interleaved.
    await emitTo(stack, channel, 'missed-1');
    await bob.call('signal.publish', { id: channel, text: 'missed-2' });
    await emitTo(stack, channel, 'missed-3');

    const back = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 1 });
    const result = await join(back, channel, last);
    expect(result).toMatchObject({ id: channel, recovered: true });
    expect(payloads(back, channel)).toEqual(['missed-1', 'missed-2', 'missed-3']);
    const offsets = back.received('signal.publish').map((f) => positionOf(f).offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets[0]).toBeGreaterThan(last.offset);

    await bob.call('signal.publish', { id: channel, text: 'live' });
    await eventually(() => payloads(back, channel).length === 4, 'the live message');
    expect(payloads(back, channel)).toEqual(['missed-1', 'missed-2', 'missed-3', 'live']);
    back.close();
    bob.close();
  });

  it('says "not recovered" when more was missed than the window keeps', async () => {
    const channel = 'hist-window';
    const alice = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 0 });
    await join(alice, channel);
    await emitTo(stack, channel, 'seen');
    const last = positionOf(await alice.next((f) => f.method === 'signal.publish'));
    alice.close();
    await alice.closed;
    for (let i = 0; i < 6; i++) await emitTo(stack, channel, `missed-${i}`);

    const back = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 1 });
    const result = await join(back, channel, last);
    expect(result).toMatchObject({ recovered: false, reason: 'window' });
    expect(payloads(back, channel)).toEqual([]);
    // Live from here on, with a position to recover from next time.
    await emitTo(stack, channel, 'live');
    await back.next((f) => f.params?.message === 'live');
    back.close();
  });

  it('recovers from the position a join gave when nothing was received since', async () => {
    const channel = 'hist-quiet';
    const alice = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 0 });
    const joined = await join(alice, channel);
    alice.close();
    await alice.closed;
    await emitTo(stack, channel, 'only');
    const back = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 1 });
    const result = await join(back, channel, joined.position as Position);
    expect(result).toMatchObject({ recovered: true });
    expect(payloads(back, channel)).toEqual(['only']);
    back.close();
  });

  it('lets a backend page through a channel\'s history; plain channels have none', async () => {
    const channel = 'hist-paged';
    const stored: Position[] = [];
    for (let i = 0; i < 3; i++) stored.push(await emitTo(stack, channel, `m${i}`));
    const get = async (path: string) => {
      const res = await fetch(`${stack.emitUrl}${path}`, { headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const first = await get(`/v1/channels/${channel}/history?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ channel, epoch: stored[0]!.epoch, next: stored[1]!.offset });
    expect(first.body.messages).toEqual(stored.slice(0, 2).map((p, i) => ({ offset: p.offset, storedAt: expect.any(Number), fields: { event: 'e', message: `m${i}` } })));
    const rest = await get(`/v1/channels/${channel}/history?limit=2&since=${String(first.body.next)}`);
    expect(rest.body).toMatchObject({ next: null, messages: [{ offset: stored[2]!.offset, fields: { message: 'm2' } }] });
    expect((await get('/v1/channels/plain/history')).body).toMatchObject({ code: 'not_found' });
    expect((await get(`/v1/channels/${channel}/history?limit=0`)).status).toBe(400);
    // A plain channel's emit answers as it always did: no history field.
    const plain = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'plain' }, event: 'e' });
    expect(plain).toEqual({ status: 202, body: { accepted: 1, deliveries: 1 } });
  });

  it('refuses a malformed position with invalid_params', async () => {
    const alice = await connectNative(stack, { identity: 'alice', device: 'web', gateway: 0 });
    const frame = await alice.request('signal.join', { id: 'hist-bad', since: { offset: -1, epoch: 'x' } });
    expect(frame.error?.data).toMatchObject({ code: 'invalid_params' });
    alice.close();
  });
});
