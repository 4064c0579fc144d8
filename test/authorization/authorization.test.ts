import fc from 'fast-check';
import { AppRegistry, mintUserToken, parseAppsFile } from '@signal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bit6Client } from '../support/bit6-client.js';
import { passes } from '../support/poll.js';
import { getParticipants } from '../support/presence.js';
import { RpcClient, type Frame } from '../support/rpc-client.js';
import { emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

/**
 * Authorization on the native and Bit6 surfaces, against two gateways: every operation
 * (subscribe, publish, presence, presence state, send, channel-scoped send), granted and not,
 * in alpha's open `test` environment and its restricted `live` environment. The actor is on
 * gateway 0 and everyone observing it on gateway 1. A refusal is `forbidden` naming the channel
 * (or recipient) and the operation, on Bit6 too, where frames are notifications and the
 * refusal comes back with `id: null`. Non-delivery is proven by order: a marker sent after
 * the refused message along the same path arrives, and nothing before it did.
 * Stelace sockets are in stelace-authorization.test.ts.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    configureApps: (apps) => {
      (apps[0]!.environments.live as Record<string, unknown>).authorization = {
        policy: 'restricted',
        anonymous: ['news-*'],
        namespaces: { 'feed-*': { publish: false, presence: false }, 'call-*': { maxParticipants: 1 } },
      };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

type Env = 'test' | 'live';
type Surface = 'native' | 'bit6';
const ENVS: Array<[Env, string]> = [
  ['test', 'open'],
  ['live', 'restricted'],
];
const SURFACES: Surface[] = ['native', 'bit6'];
const ALL = ['subscribe', 'publish', 'presence'];

let counter = 0;
const unique = (what: string) => `${what}${++counter}`;

interface Actor {
  client: RpcClient;
  surface: Surface;
}

async function connect(env: Env, surface: Surface, identity: string, gateway: number, claims: Record<string, unknown>): Promise<Actor> {
  const audience = `http://127.0.0.1:${String(stack.gateways[gateway]!.ready.port)}`;
  const token = await mintToken(stack, 'alpha', identity, 'web', env, { audience, ...claims });
  const url = surface === 'native' ? `${stack.gatewayUrl(gateway)}/v1/connect?token=${token}` : `${stack.gatewayUrl(gateway)}/signal/v1/pubsub?jwt=${token}`;
  return { client: await RpcClient.connect(url, surface), surface };
}

/**
 * An observer on gateway 1 that may do everything, in either environment. Returned once its own
 * subscriptions are in effect (a join is answered after NATS has every subscription made so far),
 * so a direct message sent to it right away arrives.
 */
async function observer(env: Env, identity = unique('observer')): Promise<Actor> {
  const actor = await connect(env, 'native', identity, 1, { capability: { '*': ALL }, send: 'any' });
  await actor.client.call('signal.join', { id: unique('ready-') });
  return actor;
}

/** Native clients ask with requests; Bit6 clients only ever send notifications, as the SDK does. */
async function attempt(actor: Actor, method: string, params: Record<string, unknown>): Promise<void> {
  if (actor.surface === 'bit6') return actor.client.notify(method, params);
  const frame = await actor.client.request(method, params);
  if (frame.error) throw new Error(`${method} failed: ${JSON.stringify(frame.error)}`);
}

/** The refusal: a native answer to the request, or a Bit6 error frame with `id: null`. */
async function refused(actor: Actor, method: string, params: Record<string, unknown>, data: Record<string, string>): Promise<Frame> {
  if (actor.surface === 'native') {
    const frame = await actor.client.request(method, params);
    expect(frame.error).toMatchObject({ code: -32003, data: { code: 'forbidden', ...data } });
    return frame;
  }
  actor.client.notify(method, params);
  const frame = await actor.client.next((f) => f.error?.data?.code === 'forbidden');
  expect(frame).toMatchObject({ id: null, error: { code: -32003, data: { code: 'forbidden', ...data } } });
  return frame;
}

/** Joins and returns once the join is in effect (Bit6 joins are not answered: a backend signal proves it). */
async function join(actor: Actor, env: Env, channel: string, presence = false): Promise<void> {
  await attempt(actor, 'signal.join', { id: channel, ...(presence ? { presence } : {}) });
  if (actor.surface === 'native') return;
  const probe = unique('probe');
  await passes(async () => {
    await emit(stack, '/v1/signals', keysOf(stack, 'alpha', env).secretKey, { to: { channel }, event: 'probe', message: probe });
    await actor.client.next((f) => f.method === 'signal.publish' && f.params?.message === probe, 300);
  });
}

function closeAll(...actors: Actor[]): void {
  for (const actor of actors) actor.client.close();
}

describe.each(ENVS)('alpha %s environment (%s)', (env) => {
  describe.each(SURFACES)('%s surface', (surface) => {
    it('subscribe: joins a granted channel and gets its messages; is refused any other and gets none of its messages', async () => {
      const ok = unique('ok-');
      const no = unique('no-');
      const actor = await connect(env, surface, unique('actor'), 0, { capability: { 'ok-*': ['subscribe'] } });
      await join(actor, env, ok);
      await refused(actor, 'signal.join', { id: no }, { channel: no, operation: 'subscribe', field: 'id' });
      // One request, one publisher: had the refused join subscribed, its message would arrive before the marker.
      await emit(stack, '/v1/signals', keysOf(stack, 'alpha', env).secretKey, {
        signals: [
          { to: { channel: no }, event: 'secret', message: 1 },
          { to: { channel: ok }, event: 'marker', message: 2 },
        ],
      });
      await actor.client.next((f) => f.params?.event === 'marker');
      expect(actor.client.frames.filter((f) => f.params?.event === 'secret')).toEqual([]);
      closeAll(actor);
    });

    it('publish: reaches members of a granted channel; is refused where only subscribe is granted', async () => {
      const ok = unique('ok-');
      const ro = unique('ro-');
      const watcher = await observer(env);
      await join(watcher, env, ok);
      await join(watcher, env, ro);
      const actor = await connect(env, surface, unique('actor'), 0, { capability: { 'ok-*': ['subscribe', 'publish'], 'ro-*': ['subscribe'] } });
      await join(actor, env, ok);
      await join(actor, env, ro);
      await refused(actor, 'signal.publish', { id: ro, text: 'forged' }, { channel: ro, operation: 'publish' });
      await attempt(actor, 'signal.publish', { id: ok, text: 'hello' });
      await watcher.client.next((f) => f.method === 'signal.publish' && f.params?.text === 'hello');
      expect(watcher.client.frames.filter((f) => f.params?.text === 'forged')).toEqual([]);
      closeAll(actor, watcher);
    });

    it('presence: joins as a participant where granted and sees the others; is refused elsewhere and nobody sees it', async () => {
      const ok = unique('ok-');
      const no = unique('no-');
      const watcher = await observer(env);
      await watcher.client.call('signal.join', { id: ok, presence: true });
      await watcher.client.call('signal.join', { id: no, presence: true });
      const identity = unique('actor');
      const actor = await connect(env, surface, identity, 0, { capability: { 'ok-*': ['subscribe', 'presence'], 'no-*': ['subscribe'] } });
      await refused(actor, 'signal.join', { id: no, presence: true }, { channel: no, operation: 'presence' });
      if (surface === 'native') {
        const result = (await actor.client.call('signal.join', { id: ok, presence: true })) as { participants: Array<{ address: string }> };
        expect(result.participants.map((p) => p.address)).toEqual([watcher.client.address]);
      } else {
        actor.client.notify('signal.join', { id: ok, presence: true });
        await actor.client.next((f) => f.method === 'signal.join_back' && f.params?.id === ok);
      }
      // Presence events of one gateway reach another in order: the refused join would have come first.
      await watcher.client.next((f) => f.method === 'signal.join' && f.params?.id === ok);
      expect(watcher.client.frames.filter((f) => f.method === 'signal.join' && f.params?.id === no)).toEqual([]);
      const { body } = await getParticipants(stack, no, { authorization: `Bearer ${keysOf(stack, 'alpha', env).secretKey}` });
      expect(body.participants?.map((p) => p.address)).toEqual([watcher.client.address]);
      closeAll(actor, watcher);
    });

    it('presence state: a state alone needs presence; content in the same channel needs publish', async () => {
      const ok = unique('ok-');
      const watcher = await observer(env);
      await watcher.client.call('signal.join', { id: ok, presence: true });
      const actor = await connect(env, surface, unique('actor'), 0, { capability: { 'ok-*': ['subscribe', 'presence'] } });
      await join(actor, env, ok, true);
      await refused(actor, 'signal.publish', { id: ok, state: { mic: false }, text: 'forged' }, { channel: ok, operation: 'publish' });
      await attempt(actor, 'signal.publish', { id: ok, state: { mic: true } });
      const state = await watcher.client.next((f) => f.method === 'signal.publish' && f.params?.id === ok && f.params?.state !== undefined);
      expect(state.params?.state).toEqual({ mic: true });
      expect(watcher.client.frames.filter((f) => f.params?.text === 'forged')).toEqual([]);
      closeAll(actor, watcher);
    });

    it('send: reaches the users its send rule names; is refused for anyone else, who gets nothing', async () => {
      const ok = unique('ok-');
      const friend = await observer(env, unique('friend'));
      const stranger = await observer(env, unique('stranger'));
      await join(stranger, env, ok);
      const actor = await connect(env, surface, unique('actor'), 0, { capability: { 'ok-*': ['subscribe', 'publish'] }, send: ['friend*'] });
      await join(actor, env, ok);
      const strangerIdentity = stranger.client.address.split('/')[0]!;
      await refused(actor, 'signal.send', { to: strangerIdentity, text: 'forged' }, { to: strangerIdentity, operation: 'send', field: 'to' });
      await attempt(actor, 'signal.send', { to: friend.client.address.split('/')[0]!, text: 'hi friend' });
      await friend.client.next((f) => f.method === 'signal.send' && f.params?.text === 'hi friend');
      // Same publisher, same receiving socket: the marker comes after anything the refused send delivered.
      await attempt(actor, 'signal.publish', { id: ok, text: 'marker' });
      await stranger.client.next((f) => f.params?.text === 'marker');
      expect(stranger.client.frames.filter((f) => f.params?.text === 'forged')).toEqual([]);
      closeAll(actor, friend, stranger);
    });

    it('channel-scoped send: needs publish on the channel it names', async () => {
      const ok = unique('ok-');
      const ro = unique('ro-');
      const friend = await observer(env, unique('friend'));
      const friendIdentity = friend.client.address.split('/')[0]!;
      const actor = await connect(env, surface, unique('actor'), 0, { capability: { 'ok-*': ['subscribe', 'publish'], 'ro-*': ['subscribe'] }, send: 'any' });
      await refused(actor, 'signal.send', { to: friendIdentity, id: ro, text: 'forged' }, { channel: ro, operation: 'publish' });
      await attempt(actor, 'signal.send', { to: friendIdentity, id: ok, text: 'scoped' });
      const frame = await friend.client.next((f) => f.method === 'signal.send');
      expect(frame.params).toMatchObject({ id: ok, text: 'scoped' });
      closeAll(actor, friend);
    });
  });

  it('a refreshed token brings its own capability', async () => {
    const identity = unique('actor');
    const before = unique('before-');
    const after = unique('after-');
    const token = (channel: string) => mintToken(stack, 'alpha', identity, 'web', env, { capability: { [channel]: ['subscribe'] } });
    const client = await RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${await token(before)}`);
    expect((await client.request('signal.join', { id: after })).error?.data).toMatchObject({ code: 'forbidden', channel: after, operation: 'subscribe' });
    await client.call('signal.auth', { token: await token(after) });
    expect(await client.call('signal.join', { id: after })).toEqual({ id: after });
    expect((await client.request('signal.join', { id: before })).error?.data).toMatchObject({ code: 'forbidden', channel: before });
    client.close();
  });
});

describe('a token without capability', () => {
  it('keeps every right in the open environment, as before', async () => {
    const channel = unique('private-bob-carol-');
    const watcher = await connect('test', 'native', unique('bob'), 1, {});
    await watcher.client.call('signal.join', { id: channel, presence: true });
    const actor = await connect('test', 'native', unique('mallory'), 0, {});
    await actor.client.call('signal.join', { id: channel, presence: true, state: { here: true } });
    await actor.client.call('signal.publish', { id: channel, text: 'hi' });
    await actor.client.call('signal.send', { to: watcher.client.address.split('/')[0]!, text: 'direct' });
    await watcher.client.next((f) => f.method === 'signal.publish' && f.params?.text === 'hi');
    await watcher.client.next((f) => f.method === 'signal.send' && f.params?.text === 'direct');
    closeAll(actor, watcher);
  });

  it('gets nothing in the restricted environment', async () => {
    const actor = await connect('live', 'native', unique('mallory'), 0, {});
    const channel = unique('private-bob-carol-');
    expect((await actor.client.request('signal.join', { id: channel })).error?.data).toEqual({
      code: 'forbidden',
      field: 'id',
      channel,
      operation: 'subscribe',
    });
    expect((await actor.client.request('signal.send', { to: 'bob', text: 'x' })).error?.data).toMatchObject({ code: 'forbidden', to: 'bob', operation: 'send' });
    closeAll(actor);
  });
});

describe('anonymous (publishable-key) connections', () => {
  const anonymous = (env: Env) => RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?key=${keysOf(stack, 'alpha', env).publishableKey}`);

  it('subscribe to anything in the open environment, but never join with presence, publish or send', async () => {
    const client = await anonymous('test');
    const channel = unique('private-bob-carol-');
    expect(await client.call('signal.join', { id: channel })).toEqual({ id: channel });
    expect((await client.request('signal.join', { id: channel, presence: true })).error?.data).toMatchObject({ code: 'forbidden', channel, operation: 'presence' });
    expect((await client.request('signal.publish', { id: channel, text: 'x' })).error?.data).toMatchObject({ code: 'forbidden', channel, operation: 'publish' });
    expect((await client.request('signal.send', { to: 'bob', text: 'x' })).error?.data).toMatchObject({ code: 'forbidden', operation: 'send' });
    client.close();
  });

  it('subscribe only to the anonymous patterns in the restricted environment, and get none of the others', async () => {
    const client = await anonymous('live');
    const news = unique('news-');
    const secret = unique('private-bob-carol-');
    expect(await client.call('signal.join', { id: news })).toEqual({ id: news });
    const refusal = await client.request('signal.join', { id: secret });
    expect(refusal.error).toMatchObject({ code: -32003, data: { code: 'forbidden', channel: secret, operation: 'subscribe' } });
    expect(refusal.error?.message).toMatch(/authorization\.anonymous/);
    await emit(stack, '/v1/signals', keysOf(stack, 'alpha', 'live').secretKey, {
      signals: [
        { to: { channel: secret }, event: 'secret', message: 1 },
        { to: { channel: news }, event: 'marker', message: 2 },
      ],
    });
    await client.next((f) => f.params?.event === 'marker');
    expect(client.frames.filter((f) => f.params?.event === 'secret')).toEqual([]);
    client.close();
  });
});

describe('namespaces (restricted environment)', () => {
  it('withhold client publish and presence whatever the token grants; backends still emit', async () => {
    const feed = unique('feed-');
    const actor = await connect('live', 'native', unique('actor'), 0, { capability: { '*': ALL } });
    await actor.client.call('signal.join', { id: feed });
    const publish = await actor.client.request('signal.publish', { id: feed, text: 'x' });
    expect(publish.error?.data).toMatchObject({ code: 'forbidden', channel: feed, operation: 'publish' });
    expect(publish.error?.message).toMatch(/namespace 'feed-\*' does not allow publish/);
    expect((await actor.client.request('signal.join', { id: feed, presence: true })).error?.data).toMatchObject({ operation: 'presence' });
    await emit(stack, '/v1/signals', keysOf(stack, 'alpha', 'live').secretKey, { to: { channel: feed }, event: 'news', message: 1 });
    await actor.client.next((f) => f.params?.event === 'news');
    closeAll(actor);
  });

  it('cap participants below PRESENCE_MAX_PARTICIPANTS and say which setting did', async () => {
    const call = unique('call-');
    const first = await connect('live', 'native', unique('a'), 0, { capability: { '*': ALL } });
    const second = await connect('live', 'native', unique('b'), 1, { capability: { '*': ALL } });
    await first.client.call('signal.join', { id: call, presence: true });
    const full = await second.client.request('signal.join', { id: call, presence: true });
    expect(full.error?.data).toMatchObject({ code: 'limit_exceeded' });
    expect(full.error?.message).toMatch(/authorization\.namespaces\['call-\*'\]\.maxParticipants/);
    closeAll(first, second);
  });
});

describe('POST /v1/tokens capability and send', () => {
  const mint = (body: Record<string, unknown>) => emit(stack, '/v1/tokens', keysOf(stack, 'alpha').secretKey, { identity: 'alice', ...body });
  const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

  it('puts them in the token as given', async () => {
    const res = await mint({ capability: { 'room-1': ['subscribe', 'publish'], 'team-42:*': ['subscribe'] }, send: ['support-*'] });
    expect(res.status).toBe(201);
    expect(claimsOf(res.body!.token as string)).toMatchObject({
      capability: { 'room-1': ['subscribe', 'publish'], 'team-42:*': ['subscribe'] },
      send: ['support-*'],
    });
  });

  it('refuses malformed or oversized ones with 400 naming the field', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ capability: { room: ['history'] } }, /capability/],
      [{ capability: ['room'] }, /capability/],
      [{ capability: { '': ['subscribe'] } }, /capability/],
      [{ capability: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, ['subscribe']])) }, /at most 64/],
      [{ capability: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`${'r'.repeat(60)}${i}`, ['subscribe']])) }, /2048/],
      [{ send: 'members' }, /send/],
    ];
    for (const [body, message] of cases) {
      const res = await mint(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'bad_request' });
      expect(String(res.body!.message)).toMatch(message);
    }
  });
});

describe('tokens a gateway did not see minted', () => {
  it('are refused at connect when their capability is malformed, on every surface', async () => {
    const scope = new AppRegistry(parseAppsFile({ apps: stack.apps })).byPublishableKey(keysOf(stack, 'alpha', 'live').publishableKey)!;
    // Signed with the environment's secret, as emit-api would, but with a capability emit-api refuses.
    const hostile = [{ pattern: 'room', operations: ['everything'] }] as unknown as Parameters<typeof mintUserToken>[1]['capability'];
    const { token } = await mintUserToken(scope, { identity: 'mallory', ttlSeconds: 60, capability: hostile });
    await expect(RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${token}`)).rejects.toThrow(/^401 .*token claim capability is invalid/);
    await expect(RpcClient.connect(`${stack.gatewayUrl(0)}/signal/v1/pubsub?jwt=${token}`, 'bit6')).rejects.toThrow(/^401 .*token claim capability is invalid/);
  });
});

/** The matching rule written independently of the gateway's, for the property below. */
function grants(pattern: string, name: string): boolean {
  if (!pattern.endsWith('*')) return pattern === name;
  const prefix = [...pattern.slice(0, -1)];
  const chars = [...name];
  return prefix.every((c, i) => chars[i] === c);
}

describe('property (end to end, restricted environment)', () => {
  // Short names over a tiny alphabet, so generated patterns and names often meet.
  const NAMES = ['a', 'ab', 'b', 'a*', 'é', '🎉x'];
  const pattern = fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom('', 'a', 'é', '🎉').map((p) => `${p}*`));
  const capability = fc.dictionary(pattern, fc.subarray(['subscribe', 'publish', 'presence']), { maxKeys: 4 });
  const sendRule = fc.oneof(fc.constantFrom<'any' | 'none'>('any', 'none'), fc.uniqueArray(fc.constantFrom('sup-1', 'sup-2', 'bob', 'bobby', 'sup*', 'bob*'), { maxLength: 3 }));

  it('a connection receives messages of exactly the channels it may subscribe to, and reaches exactly the users it may send to', async () => {
    await fc.assert(
      fc.asyncProperty(capability, sendRule, async (granted, send) => {
        const run = unique('run');
        // A prefix keeps runs apart without changing how the names and patterns compare.
        const scoped = (name: string) => `${run}/${name}`;
        const scopedCapability = Object.fromEntries(Object.entries(granted).map(([p, ops]) => [scoped(p), ops]));
        const identity = `${run}-actor`;
        const actor = await connect('live', 'native', identity, 0, { capability: { ...scopedCapability, [scoped('marker')]: ['subscribe', 'publish'] }, send: send === 'any' || send === 'none' ? send : send.map((p) => `${run}-${p}`) });
        // Answered once its subscriptions (the marker channel's, and the connection's own) are in effect.
        await actor.client.call('signal.join', { id: scoped('marker') });
        const allowed = NAMES.filter((n) => Object.entries(granted).some(([p, ops]) => ops.includes('subscribe') && grants(p, n)));
        for (const name of NAMES) {
          const frame = await actor.client.request('signal.join', { id: scoped(name) });
          expect(frame.error === undefined, `join ${name} with ${JSON.stringify(granted)}`).toBe(allowed.includes(name));
        }
        await emit(stack, '/v1/signals', keysOf(stack, 'alpha', 'live').secretKey, {
          signals: [...NAMES.map((n) => ({ to: { channel: scoped(n) }, event: 'probe', message: n })), { to: { channel: scoped('marker') }, event: 'end', message: run }],
        });
        await actor.client.next((f) => f.params?.event === 'end');
        expect(actor.client.frames.filter((f) => f.params?.event === 'probe').map((f) => f.params?.message)).toEqual(allowed);

        const recipients = await Promise.all(
          ['sup-1', 'sup-2', 'bob', 'bobby'].map((who) => connect('live', 'native', `${run}-${who}`, 1, { capability: { [scoped('marker')]: ['subscribe'] } })),
        );
        for (const r of recipients) await r.client.call('signal.join', { id: scoped('marker') });
        const reachable = ['sup-1', 'sup-2', 'bob', 'bobby'].filter((who) => send === 'any' || (send !== 'none' && send.some((p) => grants(p, who))));
        for (const who of ['sup-1', 'sup-2', 'bob', 'bobby']) {
          const frame = await actor.client.request('signal.send', { to: `${run}-${who}`, text: 'direct' });
          expect(frame.error === undefined, `send to ${who} with ${JSON.stringify(send)}`).toBe(reachable.includes(who));
        }
        await actor.client.call('signal.publish', { id: scoped('marker'), text: 'marker' });
        for (const [i, who] of ['sup-1', 'sup-2', 'bob', 'bobby'].entries()) {
          const r = recipients[i]!;
          await r.client.next((f) => f.params?.text === 'marker');
          expect(r.client.frames.filter((f) => f.params?.text === 'direct').length, `${who} with ${JSON.stringify(send)}`).toBe(reachable.includes(who) ? 1 : 0);
        }
        closeAll(actor, ...recipients);
      }),
      { numRuns: 15, seed: 10 },
    );
  }, 120_000);
});

describe('the Bit6 SDK flow with presence only (restricted environment)', () => {
  it('joins and sees every participant state without publish or send rights', async () => {
    const channel = unique('meet-room-');
    const presenceOnly = { capability: { 'meet-room-*': ['subscribe', 'presence'] }, send: 'none' };
    const token = async (identity: string, gateway: number) =>
      mintToken(stack, 'alpha', identity, 'web', 'live', { audience: `http://127.0.0.1:${String(stack.gateways[gateway]!.ready.port)}`, ...presenceOnly });
    const first = await Bit6Client.connect(await token(unique('ann'), 0));
    const a = first.join(channel, { presence: true });
    a.updateState({ mic: true });
    const second = await Bit6Client.connect(await token(unique('ben'), 1));
    const b = second.join(channel, { presence: true });
    // The newcomer learns the first participant's state; the first sees the newcomer join.
    await second.until(() => [...b.participants.values()].some((p) => JSON.stringify(p.state) === '{"mic":true}'), () => b.events);
    await first.until(() => a.participants.size === 1, () => a.events);
    b.updateState({ mic: false });
    await first.until(() => [...a.participants.values()].some((p) => JSON.stringify(p.state) === '{"mic":false}'), () => a.events);
    // The SDK also sends its state to each newcomer itself; with send 'none' those direct messages
    // are refused (error frames with id null, which the SDK ignores) and nothing is lost: the
    // gateway already gave the newcomer every state with its join.
    const refusals = [...first.raw, ...second.raw]
      .map((t) => JSON.parse(t) as { id?: unknown; error?: { data?: Record<string, unknown> } })
      .filter((f) => f.error !== undefined);
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) expect(refusal).toMatchObject({ id: null, error: { data: { code: 'forbidden', operation: 'send' } } });
    first.close();
    second.close();
  });
});

describe('participant states (restricted environment)', () => {
  it('reach only members with presence; a member who may only subscribe gets messages but no state updates', async () => {
    const channel = unique('ok-');
    const subscriber = await connect('live', 'native', unique('sub'), 1, { capability: { 'ok-*': ['subscribe'] } });
    await subscriber.client.call('signal.join', { id: channel });
    const watcher = await observer('live');
    await watcher.client.call('signal.join', { id: channel, presence: true });
    const actor = await connect('live', 'native', unique('actor'), 0, { capability: { 'ok-*': ALL } });
    await actor.client.call('signal.join', { id: channel, presence: true });
    await actor.client.call('signal.publish', { id: channel, state: { mic: true } });
    await watcher.client.next((f) => f.method === 'signal.publish' && (f.params?.state as { mic?: boolean } | undefined)?.mic === true);
    // Same publisher, same channel: a state update delivered to the subscriber would come before this message.
    await actor.client.call('signal.publish', { id: channel, state: { mic: false }, text: 'said with a state' });
    const message = await subscriber.client.next((f) => f.method === 'signal.publish');
    expect(message.params).toMatchObject({ text: 'said with a state', state: { mic: false } });
    expect(subscriber.client.received('signal.publish')).toEqual([]);
    expect(subscriber.client.received('signal.join')).toEqual([]);
    closeAll(subscriber, watcher, actor);
  });
});
