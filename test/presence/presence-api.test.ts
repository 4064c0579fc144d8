import { startService } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressesIn, bit6, bucketEntriesOfNode, getParticipants, native } from '../support/presence.js';
import { nativeView } from '../support/native-view.js';
import { passes } from '../support/poll.js';
import { RpcClient, settle } from '../support/rpc-client.js';
import { GATEWAY_ENTRY, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ gateways: 2, gatewayEnv: { PRESENCE_MAX_PARTICIPANTS: '3', PRESENCE_MAX_STATE_BYTES: '64' } });
});
afterAll(async () => {
  await stack?.stop();
});

describe('joining with presence (native protocol)', () => {
  it('answers with the participants already there, after their join_back and state frames', async () => {
    const a = await native(stack, 'ann', 'web', 0);
    const b = await native(stack, 'ben', 'phone', 1);
    expect(await a.call('signal.join', { id: 'order', presence: true, state: { x: 1 } })).toEqual({ id: 'order', participants: [] });
    const result = (await b.call('signal.join', { id: 'order', presence: true })) as { participants: unknown[] };
    expect(result).toEqual({
      id: 'order',
      participants: [{ address: a.address, identity: 'ann', device: 'web', state: { x: 1 }, joinedAt: expect.any(Number) }],
    });
    const frames = b.raw.map((t) => JSON.parse(t) as Record<string, unknown>);
    const back = frames.findIndex((f) => f.method === 'signal.join_back');
    expect(frames.slice(back, back + 3)).toEqual([
      { jsonrpc: '2.0', method: 'signal.join_back', params: { from: a.address, id: 'order' } },
      { jsonrpc: '2.0', method: 'signal.send', params: { from: a.address, id: 'order', state: { x: 1 } } },
      { jsonrpc: '2.0', id: expect.any(Number), result },
    ]);
    expect((await a.next((f) => f.method === 'signal.join')).params).toEqual({ from: b.address, id: 'order', joinedAt: expect.any(Number) });
    // Joining again changes nothing and announces nothing.
    expect(await b.call('signal.join', { id: 'order', presence: true })).toEqual(result);
    await settle(a, async (marker) => {
      await b.call('signal.publish', { id: 'order', marker });
    });
    expect(a.received('signal.join')).toEqual([]);
    a.close();
    b.close();
  });

  it('with joinBack: false, the result alone carries the list: no join_back or state frames, then every event', async () => {
    const a = await native(stack, 'ada', 'web', 0);
    const b = await native(stack, 'bo', 'web', 1);
    await a.call('signal.join', { id: 'listed', presence: true, state: { x: 1 } });
    await b.call('signal.join', { id: 'listed', presence: true });
    const c = await native(stack, 'cy', 'web', 0);
    const result = await c.call('signal.join', { id: 'listed', presence: true, joinBack: false });
    expect(result).toEqual({
      id: 'listed',
      participants: [
        { address: a.address, identity: 'ada', device: 'web', state: { x: 1 }, joinedAt: expect.any(Number) },
        { address: b.address, identity: 'bo', device: 'web', joinedAt: expect.any(Number) },
      ],
    });
    await a.call('signal.publish', { id: 'listed', state: { x: 2 } });
    expect((await c.next((f) => f.method === 'signal.publish')).params).toEqual({ from: a.address, id: 'listed', state: { x: 2 } });
    expect(c.received('signal.join_back')).toEqual([]);
    expect(c.received('signal.send')).toEqual([]);
    // Others are told of it as of any participant; a newcomer after it gets its frames by default.
    expect((await a.next((f) => f.method === 'signal.join' && f.params?.from === c.address)).params).toMatchObject({ from: c.address });
    await b.call('signal.leave', { id: 'listed' }); // PRESENCE_MAX_PARTICIPANTS is 3 here
    const d = await native(stack, 'di', 'web', 1);
    await d.call('signal.join', { id: 'listed', presence: true });
    expect(d.received('signal.join_back').map((f) => f.params?.from).sort()).toEqual([a.address, c.address].sort());
    for (const client of [a, b, c, d]) client.close();
  });

  it('shows presence events only to participants; plain members get messages and state as messages', async () => {
    const plain = await native(stack, 'pia', 'web', 0);
    const p = await native(stack, 'pete', 'web', 1);
    expect(await plain.call('signal.join', { id: 'mixed-members' })).toEqual({ id: 'mixed-members' });
    await p.call('signal.join', { id: 'mixed-members', presence: true });
    await p.call('signal.publish', { id: 'mixed-members', state: { on: true } });
    expect((await plain.next((f) => f.method === 'signal.publish')).params).toEqual({ from: p.address, id: 'mixed-members', state: { on: true } });
    await p.call('signal.leave', { id: 'mixed-members' });
    const q = await native(stack, 'quin', 'web', 1);
    await q.call('signal.join', { id: 'mixed-members' });
    await settle(plain, async (marker) => {
      await q.call('signal.publish', { id: 'mixed-members', marker });
    });
    expect(plain.received('signal.join')).toEqual([]);
    expect(plain.received('signal.leave')).toEqual([]);
    expect(await getParticipants(stack, 'mixed-members')).toMatchObject({ status: 200, body: { participants: [] } });
    for (const c of [plain, p, q]) c.close();
  });
});

describe('limits', () => {
  it('refuses a participant past PRESENCE_MAX_PARTICIPANTS with limit_exceeded, and admits it once there is room', async () => {
    const members = await Promise.all([0, 1, 0].map((node, i) => native(stack, `m${i}`, 'web', node)));
    for (const m of members) await m.call('signal.join', { id: 'full', presence: true });
    const late = await native(stack, 'late', 'web', 1);
    const refused = await late.request('signal.join', { id: 'full', presence: true });
    expect(refused.error).toMatchObject({ code: -32029, data: { code: 'limit_exceeded', field: 'id' } });
    expect(refused.error!.message).toMatch(/already has 3 participants.*PRESENCE_MAX_PARTICIPANTS/);
    expect((await addressesIn(stack, 'full')).sort()).toEqual(members.map((m) => m.address).sort());
    expect((await late.request('signal.publish', { id: 'full', text: 'x' })).error).toMatchObject({ data: { code: 'not_joined' } });
    await members[0]!.call('signal.leave', { id: 'full' });
    expect(await late.call('signal.join', { id: 'full', presence: true })).toMatchObject({ participants: expect.any(Array) });
    expect(await addressesIn(stack, 'full')).toContain(late.address);
    for (const c of [...members, late]) c.close();
  });

  it('holds PRESENCE_MAX_PARTICIPANTS when many join at once from both nodes', async () => {
    const racers = await Promise.all(Array.from({ length: 16 }, (_, i) => native(stack, `r${i}`, 'web', i % 2)));
    const answers = await Promise.all(racers.map((r) => r.request('signal.join', { id: 'rush', presence: true })));
    const admitted = racers.filter((_, i) => answers[i]!.error === undefined);
    for (const answer of answers) if (answer.error) expect(answer.error).toMatchObject({ code: -32029, data: { code: 'limit_exceeded' } });
    expect(admitted.length).toBeGreaterThan(0);
    expect(admitted.length).toBeLessThanOrEqual(3);
    // The store holds exactly who was told yes, and so does every admitted participant's view.
    await passes(async () => expect((await addressesIn(stack, 'rush')).sort()).toEqual(admitted.map((m) => m.address).sort()));
    for (const m of admitted) {
      const others = admitted.filter((o) => o !== m).map((o) => o.address).sort();
      await passes(() => expect([...nativeView(m, 'rush').keys()].sort()).toEqual(others));
    }
    for (const c of racers) c.close();
  });

  it('refuses a state over PRESENCE_MAX_STATE_BYTES, at join and on update, and keeps the connection', async () => {
    const c = await native(stack, 'sam', 'web', 0);
    const big = { text: 'x'.repeat(80) };
    const atJoin = await c.request('signal.join', { id: 'states', presence: true, state: big });
    expect(atJoin.error).toMatchObject({ code: -32029, data: { code: 'limit_exceeded', field: 'state' } });
    expect(atJoin.error!.message).toMatch(/over the 64-byte limit \(PRESENCE_MAX_STATE_BYTES\)/);
    await c.call('signal.join', { id: 'states', presence: true, state: { ok: 1 } });
    const onUpdate = await c.request('signal.publish', { id: 'states', state: big });
    expect(onUpdate.error).toMatchObject({ data: { code: 'limit_exceeded', field: 'state' } });
    expect((await getParticipants(stack, 'states')).body.participants).toEqual([
      { address: c.address, identity: 'sam', device: 'web', state: { ok: 1 }, joinedAt: expect.any(Number) },
    ]);
    const plain = await c.request('signal.join', { id: 'no-presence', state: { a: 1 } });
    expect(plain.error).toMatchObject({ data: { code: 'invalid_params', field: 'state' } });
    c.close();
  });

  it('does not let a receive-only connection join with presence', async () => {
    const anon = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    expect((await anon.request('signal.join', { id: 'x', presence: true })).error).toMatchObject({ data: { code: 'forbidden' } });
    anon.close();
  });
});

describe('GET /v1/channels/:channel/participants', () => {
  it('lists participants with states for the secret key’s app and environment only', async () => {
    const channel = 'room/with odd ✓ chars';
    const a = await native(stack, 'gus', 'web', 0);
    const b = await native(stack, 'gil', 'app', 1);
    await a.call('signal.join', { id: channel, presence: true, state: { role: 'host' } });
    await b.call('signal.join', { id: channel, presence: true });
    const { status, body } = await getParticipants(stack, channel);
    expect(status).toBe(200);
    expect(body).toEqual({
      channel,
      participants: [
        { address: a.address, identity: 'gus', device: 'web', state: { role: 'host' }, joinedAt: expect.any(Number) },
        { address: b.address, identity: 'gil', device: 'app', joinedAt: expect.any(Number) },
      ],
    });
    expect(await getParticipants(stack, channel, { app: 'beta' })).toEqual({ status: 200, body: { channel, participants: [] } });
    const live = await getParticipants(stack, channel, { authorization: `Bearer ${keysOf(stack, 'alpha', 'live').secretKey}` });
    expect(live).toEqual({ status: 200, body: { channel, participants: [] } });
    a.close();
    b.close();
  });

  it('is empty for a channel nobody joined, and checks the key', async () => {
    expect(await getParticipants(stack, 'nobody-here')).toEqual({ status: 200, body: { channel: 'nobody-here', participants: [] } });
    expect(await getParticipants(stack, 'x', { authorization: null })).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    expect(await getParticipants(stack, 'x', { authorization: `Bearer seck_test_${'Z'.repeat(32)}` })).toMatchObject({
      status: 401,
      body: { code: 'unauthorized' },
    });
    expect(await getParticipants(stack, 'x', { authorization: `Bearer ${keysOf(stack, 'alpha').publishableKey}` })).toMatchObject({
      status: 403,
      body: { code: 'forbidden' },
    });
    const badPath = await fetch(`${stack.emitUrl}/v1/channels/%E0%A4%A/participants`, {
      headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}` },
    });
    expect(badPath.status).toBe(400);
    expect(await badPath.json()).toMatchObject({ code: 'bad_request', field: 'channel' });
  });
});

describe('limits for Bit6 clients', () => {
  it('tells a Bit6 client its join was refused (an error the SDK ignores, not silence)', async () => {
    const members = await Promise.all([0, 1, 1].map((node, i) => native(stack, `bm${i}`, 'web', node)));
    for (const m of members) await m.call('signal.join', { id: 'full-b6', presence: true });
    const b = await bit6(stack, 'bitty', 'web1', 0);
    const ch = b.join('full-b6', { presence: true });
    await b.until(() => b.raw.some((t) => t.includes('limit_exceeded')), () => b.raw);
    expect(JSON.parse(b.raw.find((t) => t.includes('limit_exceeded'))!)).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32029, data: { code: 'limit_exceeded', field: 'id' } },
    });
    expect(ch.participants.size).toBe(0);
    expect(await addressesIn(stack, 'full-b6')).toHaveLength(3);
    for (const c of members) c.close();
    b.close();
  });
});

describe('configuration and shutdown', () => {
  it('refuses to start with a node timeout too close to the heartbeat, naming the variable', async () => {
    const start = startService({
      entry: GATEWAY_ENTRY,
      name: 'misconfigured gateway',
      env: { ...serviceEnv(stack), PRESENCE_HEARTBEAT_MS: '1000', PRESENCE_NODE_TIMEOUT_MS: '1500' },
    });
    await expect(start).rejects.toThrow(/PRESENCE_NODE_TIMEOUT_MS="1500": must be at least 2 × PRESENCE_HEARTBEAT_MS \(2000\)/);
  });

  it('a gateway stopped with SIGTERM takes its participants out of the store before it exits', async () => {
    const stay = await native(stack, 'stay', 'web', 0);
    const go = await native(stack, 'go', 'web', 1);
    await stay.call('signal.join', { id: 'bye', presence: true });
    await go.call('signal.join', { id: 'bye', presence: true });
    const node = String(stack.gateways[1]!.ready.node);
    expect((await bucketEntriesOfNode(stack, node)).filter((e) => e.channel === 'bye')).toHaveLength(1);
    expect(await stack.gateways[1]!.stop()).toBe(0);
    expect(await bucketEntriesOfNode(stack, node)).toEqual([]);
    expect((await stay.next((f) => f.method === 'signal.leave')).params).toEqual({ from: go.address, id: 'bye' });
    await passes(async () => expect(await addressesIn(stack, 'bye')).toEqual([stay.address]));
    stay.close();
  });
});
