import { describe, expect, it } from 'vitest';
import { freePort } from '@signal/harness';
import type { Channel, Participant } from '@signal/client';

import { client, next, record, sdkStack, waitFor } from './support.js';

type Mood = { mood: string };

/** Short presence timings so a dead gateway's participants are swept within seconds. */
const PRESENCE_ENV = { PRESENCE_HEARTBEAT_MS: '250', PRESENCE_NODE_TIMEOUT_MS: '1500' };

const ctx = sdkStack({ gateways: 2, gatewayEnv: PRESENCE_ENV });

const addresses = (channel: Channel<never, Mood> | Channel<Record<string, unknown>, Mood>) => [...channel.participants.keys()].sort();
const ops = (seen: Array<[Participant<Mood>, number]>) => seen.map(([p, op]) => `${op > 0 ? '+' : op < 0 ? '-' : '='}${p.identity}`);

describe('presence', () => {
  it('resolves a join with the participants already there, with their states, across gateways', async () => {
    const alice = client<Record<string, unknown>, Mood>(ctx.stack, 'alice', 'web', { gateway: 0 });
    const roomA = alice.join('lobby', { presence: true, state: { mood: 'happy' } });
    expect(await roomA.joined).toEqual([]);
    const seenByAlice = record(roomA, 'participant');

    const bob = client<Record<string, unknown>, Mood>(ctx.stack, 'bob', 'phone', { gateway: 1 });
    const roomB = bob.join('lobby', { presence: true, state: { mood: 'sleepy' } });
    const seenByBob = record(roomB, 'participant');
    const list = await roomB.joined;
    expect(list.map((p) => [p.address, p.identity, p.device, p.state])).toEqual([[alice.address, 'alice', 'web', { mood: 'happy' }]]);
    // As in Bit6, those already there are announced to the newcomer too (op 1), before `joined` resolves.
    expect(seenByBob).toEqual([[list[0], 1]]);
    expect(list[0]!.joinedAt).toBeLessThanOrEqual(Date.now());
    expect(addresses(roomB)).toEqual([alice.address]);

    await waitFor('alice to see bob', () => seenByAlice.length === 1);
    const [bobAtAlice, op] = seenByAlice[0]!;
    expect(op).toBe(1);
    expect(bobAtAlice.address).toBe(bob.address);
    expect(bobAtAlice.state).toEqual({ mood: 'sleepy' });
    expect(roomA.participants.get(bob.address!)).toBe(bobAtAlice);
    expect(roomA.me.address).toBe(alice.address);
    expect(roomA.me.state).toEqual({ mood: 'happy' });
  });

  it('delivers state updates as participant state events, and gives newcomers the current state', async () => {
    const alice = client<Record<string, unknown>, Mood>(ctx.stack, 'alice', 'web', { gateway: 0 });
    const bob = client<Record<string, unknown>, Mood>(ctx.stack, 'bob', 'web', { gateway: 1 });
    const roomA = alice.join('states', { presence: true, state: { mood: 'calm' } });
    await roomA.joined;
    const roomB = bob.join('states', { presence: true });
    const [aliceAtBob] = await roomB.joined;
    const changes = record(aliceAtBob!, 'state');

    roomA.me.updateState({ mood: 'busy' });
    await waitFor('the state at bob', () => changes.length === 1);
    expect(changes[0]).toEqual([{ mood: 'busy' }, { mood: 'calm' }]);
    expect(aliceAtBob!.state).toEqual({ mood: 'busy' });
    await expect(roomA.me.updateState({ mood: 'away' }, { ack: true })).resolves.toBeUndefined();
    await waitFor('the second state at bob', () => changes.length === 2);

    const carol = client<Record<string, unknown>, Mood>(ctx.stack, 'carol', 'web', { gateway: 0 });
    const roomC = carol.join('states', { presence: true });
    const list = await roomC.joined;
    expect(Object.fromEntries(list.map((p) => [p.identity, p.state]))).toEqual({ alice: { mood: 'away' }, bob: undefined });
  });

  it('refuses a state over the size limit with a typed error', async () => {
    const alice = client<Record<string, unknown>, Mood>(ctx.stack, 'alice', 'web');
    const room = alice.join('big-state', { presence: true });
    await room.joined;
    await expect(room.me.updateState({ mood: 'x'.repeat(4096) }, { ack: true })).rejects.toMatchObject({ code: 'limit_exceeded' });
  });

  it('announces leaves, whether by leave() or by closing the connection', async () => {
    const alice = client<Record<string, unknown>, Mood>(ctx.stack, 'alice', 'web', { gateway: 0 });
    const roomA = alice.join('leaving', { presence: true });
    await roomA.joined;
    const seen = record(roomA, 'participant');
    const bob = client(ctx.stack, 'bob', 'web', { gateway: 1 });
    const carol = client(ctx.stack, 'carol', 'web', { gateway: 0 });
    await Promise.all([bob.join('leaving', { presence: true }).joined, carol.join('leaving', { presence: true }).joined]);
    await waitFor('two joins', () => seen.length === 2);

    await bob.channels.get('leaving')!.leave();
    carol.close();
    await waitFor('two leaves', () => seen.length === 4);
    expect(ops(seen).slice(2).sort()).toEqual(['-bob', '-carol']);
    expect(roomA.participants.size).toBe(0);
  });

  it('without presence, tracks no participants', async () => {
    const alice = client(ctx.stack, 'alice', 'web');
    const room = alice.join('plain');
    expect(await room.joined).toEqual([]);
    const bob = client(ctx.stack, 'bob', 'web', { gateway: 1 });
    await bob.join('plain', { presence: true }).joined;
    const marker = next(room, 'message');
    bob.channels.get('plain')!.publish({ marker: true });
    await marker;
    expect(room.participants.size).toBe(0);
  });
});

describe('presence across a reconnect', () => {
  it('resyncs after a gateway dies: only what changed while away is announced, and every list converges', async () => {
    const doomed = await ctx.gateway(PRESENCE_ENV);
    const nowhere = `ws://127.0.0.1:${await freePort()}`;
    let mayReturn = false;
    const alice = client<Record<string, unknown>, Mood>(ctx.stack, 'alice', 'web', {
      // First the doomed gateway; after it dies, nowhere until the test lets alice back in.
      url: ({ attempt }) => (attempt === 0 ? doomed.url : mayReturn ? ctx.stack.gatewayUrl(0) : nowhere),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    const bob = client<Record<string, unknown>, Mood>(ctx.stack, 'bob', 'web', { gateway: 0 });
    const dave = client<Record<string, unknown>, Mood>(ctx.stack, 'dave', 'web', { gateway: 1 });
    const roomA = alice.join('resync', { presence: true, state: { mood: 'here' } });
    await roomA.joined;
    const roomB = bob.join('resync', { presence: true, state: { mood: 'v1' } });
    const roomD = dave.join('resync', { presence: true });
    await Promise.all([roomB.joined, roomD.joined]);
    await waitFor('alice to see bob and dave', () => roomA.participants.size === 2);
    const bobAtAlice = roomA.participants.get(bob.address!)!;
    const oldAlice = alice.address!;

    const seenByAlice = record(roomA, 'participant');
    const bobStates = record(bobAtAlice, 'state');
    const seenByBob = record(roomB, 'participant');
    const lost = next(alice, 'disconnected');
    await doomed.process.kill();
    await lost;

    // While alice is away: dave leaves, carol arrives, bob changes state, and alice's old connection is swept.
    await roomD.leave();
    const carol = client<Record<string, unknown>, Mood>(ctx.stack, 'carol', 'web', { gateway: 1 });
    await carol.join('resync', { presence: true }).joined;
    await roomB.me.updateState({ mood: 'v2' }, { ack: true });
    await waitFor("bob to see alice's dead connection leave", () => ops(seenByBob).includes('-alice'), 20_000);
    expect(roomB.participants.has(oldAlice)).toBe(false);

    mayReturn = true;
    const [back] = await next(alice, 'connected', undefined, 20_000);
    expect(back.reconnected).toBe(true);

    // Alice hears of exactly what changed; bob keeps his object and reports his new state.
    expect(ops(seenByAlice).sort()).toEqual(['+carol', '-dave']);
    expect(roomA.participants.get(bob.address!)).toBe(bobAtAlice);
    expect(bobStates).toEqual([[{ mood: 'v2' }, { mood: 'v1' }]]);
    expect(addresses(roomA)).toEqual([bob.address!, carol.address!].sort());
    expect(roomA.participants.has(oldAlice)).toBe(false);

    // Everyone else converges on alice's new connection, with her state carried over.
    const roomC = carol.channels.get('resync')!;
    await waitFor('bob and carol to see the new alice', () => roomB.participants.has(alice.address!) && roomC.participants.has(alice.address!));
    expect(addresses(roomB)).toEqual([alice.address!, carol.address!].sort());
    expect(addresses(roomC)).toEqual([alice.address!, bob.address!].sort());
    expect(roomB.participants.get(alice.address!)!.state).toEqual({ mood: 'here' });
  }, 60_000);

  it('does not list its own dead connection as a participant when rejoining before it is swept', async () => {
    const doomed = await ctx.gateway(PRESENCE_ENV);
    const alice = client<Record<string, unknown>, Mood>(ctx.stack, 'alice', 'web', { url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    const roomA = alice.join('ghost', { presence: true });
    await Promise.all([roomA.joined, alice.ready()]);
    const bob = client(ctx.stack, 'bob', 'web', { gateway: 1 });
    await bob.join('ghost', { presence: true }).joined;
    await waitFor('alice to see bob', () => roomA.participants.size === 1);
    const oldAlice = alice.address!;
    const seen = record(roomA, 'participant');
    const back = next(alice, 'connected');
    const seenByBob = record(bob.channels.get('ghost')!, 'participant');
    await doomed.process.kill();
    await back;
    expect(roomA.isJoined).toBe(true);
    // The rejoin usually beats the sweep of the dead node, so the store still lists the old connection: it is us, not a participant.
    expect(roomA.participants.has(oldAlice)).toBe(false);
    expect(addresses(roomA)).toEqual([bob.address]);
    // Nor is its sweep announced to us later.
    await waitFor('the sweep of the old connection', () => seenByBob.some(([p, op]) => p.address === oldAlice && op === -1), 20_000);
    const marker = next(roomA, 'message');
    bob.channels.get('ghost')!.publish({ after: 'sweep' });
    await marker;
    expect(seen).toEqual([]);
  });
});
