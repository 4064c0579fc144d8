import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { encodeToken } from '@signal/core';
import { getOccupancy, occupancyFrames, occupancyKeys, recordOccupancy } from '../support/occupancy.js';
import { connectStelace } from '../support/stelace-client.js';
import { passes } from '../support/poll.js';
import { native } from '../support/presence.js';
import type { RpcClient } from '../support/rpc-client.js';
import { RpcClient as Rpc } from '../support/rpc-client.js';
import { startService } from '@signal/harness';
import { GATEWAY_ENTRY, keysOf, mintToken, serviceEnv, startStack, type Stack } from '../support/stack.js';

/** Default heartbeat 1 s and node timeout 5 s: the sweep of a killed gateway comes within this. */
const SWEEP_WITHIN_MS = 12_000;

describe('occupancy across two gateways', () => {
  let stack: Stack;
  const clients: RpcClient[] = [];
  beforeAll(async () => {
    // Churn joins faster than a client's default join rate.
    stack = await startStack({
      gateways: 2,
      gatewayEnv: { JOIN_RATE: '10000', JOIN_BURST: '10000', FRAME_RATE: '100000', FRAME_BURST: '100000' },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await stack?.stop();
  });

  async function client(identity: string, gateway: number): Promise<RpcClient> {
    const c = await native(stack, identity, 'd', gateway);
    clients.push(c);
    return c;
  }

  it('counts connections and participants of every gateway, for subscribers and the GET endpoint', async () => {
    const watcher = await client('watcher', 0);
    const first = (await watcher.call('signal.join', { id: 'stage', occupancy: true })) as Record<string, unknown>;
    expect(first).toEqual({ id: 'stage', occupancy: { connections: 1, participants: 0 } });

    const a = await client('ann', 0);
    await a.call('signal.join', { id: 'stage', presence: true });
    const b = await client('bob', 1);
    await b.call('signal.join', { id: 'stage' });
    const c = await client('cyd', 1);
    await c.call('signal.join', { id: 'stage', presence: true });

    const truth = { connections: 4, participants: 2 };
    await passes(() => expect(occupancyFrames(watcher, 'stage').at(-1)?.params).toEqual({ id: 'stage', ...truth }));
    expect(await passes(async () => {
      const { status, body } = await getOccupancy(stack, 'stage');
      expect(status).toBe(200);
      expect(body).toEqual({ channel: 'stage', ...truth });
      return body;
    })).toEqual({ channel: 'stage', ...truth });
    // Another app's channel of the same name is another channel: tenants never see each other's counts.
    expect((await getOccupancy(stack, 'stage', `Bearer ${keysOf(stack, 'beta').secretKey}`)).body).toEqual({ channel: 'stage', connections: 0, participants: 0 });
    const stranger = await native(stack, 'stranger', 'd', 1, 'beta');
    clients.push(stranger);
    expect(await stranger.call('signal.join', { id: 'stage', occupancy: true })).toEqual({ id: 'stage', occupancy: { connections: 1, participants: 0 } });

    // A later subscriber on the other gateway starts from the same counts.
    const late = await client('late', 1);
    const joined = (await late.call('signal.join', { id: 'stage', occupancy: true, presence: true })) as { occupancy: Record<string, unknown> };
    // The first subscriber on its gateway starts from the counts at its join, itself included.
    expect(joined.occupancy).toEqual({ connections: 5, participants: 3 });

    // Leaving and closing count down; an empty channel reads as zero and has no key left.
    await c.call('signal.leave', { id: 'stage' });
    b.close();
    await passes(() => expect(occupancyFrames(watcher, 'stage').at(-1)?.params).toEqual({ id: 'stage', connections: 3, participants: 2 }));
    for (const x of [watcher, a, late]) await x.call('signal.leave', { id: 'stage' });
    await passes(async () => expect((await getOccupancy(stack, 'stage')).body).toEqual({ channel: 'stage', connections: 0, participants: 0 }));
    const token = encodeToken('stage');
    await passes(async () => expect((await occupancyKeys(stack)).filter((k) => k.startsWith(`alpha.test.${token}.`))).toEqual([]));
  });

  it('counts connections of every surface: a Stelace socket is one too', async () => {
    const watcher = await client('sw', 0);
    await watcher.call('signal.join', { id: 'mixed', occupancy: true });
    const { client: socket } = await connectStelace(stack, 'v4', { publishableKey: keysOf(stack, 'alpha').publishableKey, channels: 'mixed' }, { gateway: 1 });
    try {
      await passes(() => expect(occupancyFrames(watcher, 'mixed').at(-1)?.params).toEqual({ id: 'mixed', connections: 2, participants: 0 }));
      expect((await getOccupancy(stack, 'mixed')).body).toEqual({ channel: 'mixed', connections: 2, participants: 0 });
    } finally {
      socket.close();
    }
    await passes(async () => expect((await getOccupancy(stack, 'mixed')).body).toEqual({ channel: 'mixed', connections: 1, participants: 0 }));
  });

  it('ignores what no live gateway wrote into the bucket: garbage, and counts of a node that is not live', async () => {
    const watcher = await client('pw', 0);
    await watcher.call('signal.join', { id: 'poisoned', occupancy: true });
    const raw = await connect({ servers: stack.nats.url });
    const prefix = `$KV.signal_occupancy.alpha.test.${encodeToken('poisoned')}`;
    raw.publish(`${prefix}.${String(stack.gateways[1]!.ready.node)}`, 'not json');
    raw.publish(`${prefix}.ghost`, JSON.stringify({ node: 'ghost', instance: 'x', connections: 500, participants: 5, updatedAt: 1 }));
    await raw.flush();
    await raw.close();
    const other = await client('pw2', 1);
    await other.call('signal.join', { id: 'poisoned' });
    await passes(() => expect(occupancyFrames(watcher, 'poisoned').at(-1)?.params).toEqual({ id: 'poisoned', connections: 2, participants: 0 }));
    expect((await getOccupancy(stack, 'poisoned')).body).toEqual({ channel: 'poisoned', connections: 2, participants: 0 });
  });

  it('announces a changing count at most once per second per channel, and only changes', async () => {
    const watcher = await client('w2', 0);
    const seen = recordOccupancy(watcher, 'busy');
    await watcher.call('signal.join', { id: 'busy', occupancy: true });
    const churner = await client('churn', 1);
    const others = await Promise.all([client('o1', 1), client('o2', 0)]);
    // Churn until the watcher has seen several updates: many more changes than notifications.
    let changes = 0;
    for (let i = 0; seen.length < 4; i++) {
      const member = others[i % others.length]!;
      await member.call('signal.join', { id: 'busy', presence: i % 3 === 0 });
      await churner.call('signal.join', { id: 'busy' });
      await member.call('signal.leave', { id: 'busy' });
      await churner.call('signal.leave', { id: 'busy' });
      changes += 4;
    }
    const frames = [...seen];
    const times = frames.map((f) => f.at);
    expect(changes).toBeGreaterThan(frames.length * 4);
    for (let i = 1; i < frames.length; i++) {
      // Sent at least 1000 ms apart; loopback delivery jitter is far below 100 ms.
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(900);
      expect(frames[i]!.params).not.toEqual(frames[i - 1]!.params);
    }
    // Over the whole run: no more notifications than whole seconds passed, plus the first.
    expect(frames.length).toBeLessThanOrEqual(Math.floor((times.at(-1)! - times[0]!) / 1000) + 1);
  });

  it('refuses reads without the right key or permission, and past the per-connection limit', async () => {
    expect((await getOccupancy(stack, 'stage', null)).status).toBe(401);
    expect((await getOccupancy(stack, 'stage', 'Bearer seck_wrong')).status).toBe(401);
    const publishable = await getOccupancy(stack, 'stage', `Bearer ${keysOf(stack, 'alpha').publishableKey}`);
    expect(publishable.status).toBe(403);
    const tooLong = await getOccupancy(stack, 'x'.repeat(257));
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.code).toBe('bad_request');

    // A token whose capability grants nothing on the channel may not follow its occupancy.
    const token = await mintToken(stack, 'alpha', 'limited', 'd', 'test', { capability: { 'other-*': ['subscribe'] } });
    const limited = await Rpc.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${token}`);
    clients.push(limited);
    const refused = await limited.request('signal.join', { id: 'stage', occupancy: true });
    expect(refused.error?.data).toEqual(expect.objectContaining({ code: 'forbidden', channel: 'stage', operation: 'subscribe' }));
    // A publishable-key connection may wherever it may subscribe (every channel in an open environment).
    const anonymous = await Rpc.connect(`${stack.gatewayUrl(0)}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    clients.push(anonymous);
    expect(await anonymous.call('signal.join', { id: 'open-stage', occupancy: true })).toEqual({ id: 'open-stage', occupancy: { connections: 1, participants: 0 } });

    const bad = await limited.request('signal.join', { id: 'other-1', occupancy: 'yes' });
    expect(bad.error?.data).toEqual(expect.objectContaining({ code: 'invalid_params', field: 'occupancy' }));
  });
});

describe('occupancy when a gateway dies', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 2, gatewayEnv: { MAX_OCCUPANCY_CHANNELS_PER_CONNECTION: '2', MAX_CHANNELS_PER_CONNECTION: '4' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('returns to the truth after the sweep of a SIGKILLed gateway, and its keys are gone', async () => {
    const doomed = String(stack.gateways[1]!.ready.node);
    const watcher = await native(stack, 'watcher', 'd', 0);
    await watcher.call('signal.join', { id: 'hall', occupancy: true, presence: true });
    const victims = await Promise.all([native(stack, 'v1', 'd', 1), native(stack, 'v2', 'd', 1), native(stack, 'v3', 'd', 1)]);
    for (const [i, v] of victims.entries()) await v.call('signal.join', { id: 'hall', presence: i === 0 });
    await passes(async () => expect((await getOccupancy(stack, 'hall')).body).toEqual({ channel: 'hall', connections: 4, participants: 2 }));
    expect((await occupancyKeys(stack)).filter((k) => k.endsWith(`.${doomed}`))).toHaveLength(1);

    const killedAt = Date.now();
    await stack.gateways[1]!.kill();
    const truth = { connections: 1, participants: 1 };
    await passes(() => expect(occupancyFrames(watcher, 'hall').at(-1)?.params).toEqual({ id: 'hall', ...truth }), SWEEP_WITHIN_MS);
    await passes(async () => expect((await getOccupancy(stack, 'hall')).body).toEqual({ channel: 'hall', ...truth }), SWEEP_WITHIN_MS);
    expect(Date.now() - killedAt).toBeLessThan(SWEEP_WITHIN_MS);
    await passes(async () => expect((await occupancyKeys(stack)).filter((k) => k.endsWith(`.${doomed}`))).toEqual([]), SWEEP_WITHIN_MS);
    for (const v of victims) v.close();

    // The per-connection limit (2 here): a third channel is refused, naming the variable.
    await watcher.call('signal.join', { id: 'second', occupancy: true });
    const third = await watcher.request('signal.join', { id: 'third', occupancy: true });
    expect(third.error?.data).toEqual(expect.objectContaining({ code: 'limit_exceeded', field: 'occupancy' }));
    expect(third.error?.message).toContain('MAX_OCCUPANCY_CHANNELS_PER_CONNECTION');
    // Joining again a channel it follows costs nothing.
    await watcher.call('signal.join', { id: 'second', occupancy: true });
    watcher.close();
  });

  it('holds both per-connection limits for joins sent back to back, before any is answered', async () => {
    const eager = await native(stack, 'eager', 'd', 0);
    const answers = await Promise.all([
      eager.request('signal.join', { id: 'p1', occupancy: true }),
      eager.request('signal.join', { id: 'p2', occupancy: true }),
      eager.request('signal.join', { id: 'p3', occupancy: true }),
      eager.request('signal.join', { id: 'p4' }),
      eager.request('signal.join', { id: 'p5' }),
      eager.request('signal.join', { id: 'p6' }),
    ]);
    expect(answers.map((a) => a.error?.message.match(/MAX_\w+/)?.[0] ?? 'ok')).toEqual([
      'ok',
      'ok',
      'MAX_OCCUPANCY_CHANNELS_PER_CONNECTION',
      'ok',
      'ok',
      // p1 and p2 were still being joined when p6 came: they count.
      'MAX_CHANNELS_PER_CONNECTION',
    ]);
    eager.close();
  });
});

describe('occupancy when a gateway restarts with the same NODE_ID', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateways: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("removes its earlier process's keys before it is ready, so readers never count them again", async () => {
    const env = { ...serviceEnv(stack), NODE_ID: 'reborn01' };
    const first = await startService({ entry: GATEWAY_ENTRY, name: 'reborn-1', env });
    const url = `ws://127.0.0.1:${String(first.ready.port)}`;
    const tokens = await Promise.all(['r1', 'r2'].map((identity) => mintToken(stack, 'alpha', identity, 'd')));
    const clients = await Promise.all(tokens.map((token) => Rpc.connect(`${url}/v1/connect?token=${token}`)));
    for (const c of clients) await c.call('signal.join', { id: 'arena', presence: true });
    const watcher = await native(stack, 'watcher', 'd', 0);
    await watcher.call('signal.join', { id: 'arena', occupancy: true });
    await passes(async () => expect((await getOccupancy(stack, 'arena')).body).toEqual({ channel: 'arena', connections: 3, participants: 2 }));

    await first.kill();
    const second = await startService({ entry: GATEWAY_ENTRY, name: 'reborn-2', env });
    try {
      // Before any sweep could have come (PRESENCE_NODE_TIMEOUT_MS is 5 s): the restart itself cleaned up.
      expect((await occupancyKeys(stack)).filter((k) => k.endsWith('.reborn01'))).toEqual([]);
      expect((await getOccupancy(stack, 'arena')).body).toEqual({ channel: 'arena', connections: 1, participants: 0 });
      await passes(() => expect(occupancyFrames(watcher, 'arena').at(-1)?.params).toEqual({ id: 'arena', connections: 1, participants: 0 }));
    } finally {
      watcher.close();
      await second.stop();
    }
  });
});
