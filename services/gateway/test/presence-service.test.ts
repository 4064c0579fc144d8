import { SignalError, type Envelope, type EnvironmentAuthorization, type Scope } from '@signal/core';
import { MemoryPresenceStore, type ParticipantView } from '@signal/presence';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { permissionsOf } from '../src/auth/permissions.js';
import type { Session } from '../src/core/session.js';
import type { EnvelopeFilter } from '../src/core/hub.js';
import { PresenceService, type PresenceHub } from '../src/presence/presence-service.js';

/**
 * The gateway's presence logic (ordering, catch-up, the participant limit) on the in-memory
 * store, with two nodes joined by an in-memory bus standing in for NATS: the bus can drop an
 * event or let events overtake the store's feed, which a real cluster does rarely and at random.
 */
const OPEN: EnvironmentAuthorization = { policy: 'open', anonymous: ['*'], namespaces: [] };
const scope: Scope = { app: 'acme', env: 'test' };
const log = pino({ level: 'silent' });

/** A client as the tests see it: what it was told, applied like the SDK applies it. */
class Client {
  readonly seen = new Map<string, unknown>();
  readonly log: string[] = [];
  readonly problems: string[] = [];

  constructor(readonly session: Session) {}

  welcome(list: readonly ParticipantView[]): void {
    for (const p of list) {
      if (this.seen.has(p.address)) this.problems.push(`listed twice: ${p.address}`);
      this.seen.set(p.address, p.state);
    }
  }

  receive(envelope: Envelope): void {
    if (envelope.t === 'join') {
      if (this.seen.has(envelope.from)) this.problems.push(`join of someone present: ${envelope.from}`);
      this.seen.set(envelope.from, envelope.state);
      this.log.push(`join ${envelope.from}`);
    } else if (envelope.t === 'leave') {
      if (!this.seen.delete(envelope.from)) this.problems.push(`leave of someone absent: ${envelope.from}`);
      this.log.push(`leave ${envelope.from}`);
    } else if (envelope.t === 'publish' && envelope.from !== undefined) {
      if ('state' in envelope.fields) this.seen.set(envelope.from, envelope.fields.state);
      this.log.push(`publish ${envelope.from} ${JSON.stringify(envelope.fields)}`);
    }
  }
}

/** NATS core between the nodes: delivers on a later turn; `drop` loses matching events, `hold` keeps them back. */
class Bus {
  readonly nodes: Node[] = [];
  drop: ((envelope: Envelope, to: Node) => boolean) | undefined;
  private held: (() => void)[] | undefined;

  publish(envelope: Envelope): void {
    for (const node of this.nodes) {
      if (this.drop?.(envelope, node)) continue;
      const deliver = () => node.fromBus(envelope);
      if (this.held) this.held.push(deliver);
      else setImmediate(deliver);
    }
  }

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const deliver of held) deliver();
  }
}

/** One gateway: the presence service on a hub twin that keeps members per channel. */
class Node implements PresenceHub {
  readonly presence: PresenceService;
  private filter: EnvelopeFilter = (_scope, envelope) => envelope;
  private readonly members = new Map<string, Map<Session, { client: Client; presence: boolean }>>();
  private readonly clients = new Map<Session, Client>();
  private connections = 0;

  constructor(
    readonly name: string,
    private readonly bus: Bus,
    store: MemoryPresenceStore,
    maxParticipants = 100,
    feedLingerMs = 0,
  ) {
    bus.nodes.push(this);
    this.presence = new PresenceService(this, store, { node: name, instance: () => `${name}-i`, limits: { maxParticipants, maxStateBytes: 1024 }, feedLingerMs }, log);
  }

  client(identity: string): Client {
    const route = `${this.name}-${++this.connections}`;
    const session = {
      route,
      scope,
      address: `${identity}/web/${route}`,
      identity,
      device: 'web',
      anonymous: false,
      permissions: permissionsOf({ anonymous: false, publishGranted: true, capability: undefined, send: undefined }, OPEN),
      channels: new Set<string>(),
      ws: {},
    } as unknown as Session;
    return new Client(session);
  }

  /** A client joins with presence, as `signal.join {presence: true}` does. */
  async enter(client: Client, channel: string, state?: unknown): Promise<void> {
    this.clients.set(client.session, client);
    await this.presence.join(client.session, channel, state, (list) => client.welcome(list));
  }

  fromBus(envelope: Envelope): void {
    const passed = this.filter(scope, envelope);
    if (passed && passed.ch !== undefined) this.deliverLocally(scope, passed.ch, passed);
  }

  // PresenceHub
  setEnvelopeFilter(filter: EnvelopeFilter): void {
    this.filter = filter;
  }

  join(session: Session, channel: string): boolean {
    if (session.channels.has(channel)) return false;
    session.channels.add(channel);
    const members = this.members.get(channel) ?? new Map<Session, { client: Client; presence: boolean }>();
    members.set(session, { client: this.clients.get(session)!, presence: false });
    this.members.set(channel, members);
    return true;
  }

  leave(session: Session, channel: string): boolean {
    if (!session.channels.delete(channel)) return false;
    this.members.get(channel)?.delete(session);
    return true;
  }

  publish(session: Session, channel: string, fields: Record<string, unknown>, rev?: number): Promise<void> | undefined {
    this.assertCanPublish(session);
    this.bus.publish({ t: 'publish', ch: channel, from: session.address, fields, ...(rev === undefined ? {} : { rev }) } as Envelope);
    return undefined;
  }

  assertCanPublish(session: Session): void {
    if (session.channels.size === 0) throw new SignalError('not_joined', 'join first');
  }

  publishEnvelope(_subject: string, envelope: Envelope): void {
    this.bus.publish(envelope);
  }

  deliverLocally(_scope: Scope, channel: string, envelope: Envelope): void {
    const presenceOnly = envelope.t === 'join' || envelope.t === 'leave';
    for (const [session, member] of this.members.get(channel) ?? []) {
      // As in the hub: the sender does not get its own message back.
      if ((presenceOnly && !member.presence) || session.address === envelope.from) continue;
      member.client.receive(envelope);
    }
  }

  subscribePresence(session: Session, channel: string): void {
    const member = this.members.get(channel)?.get(session);
    if (member) member.presence = true;
  }
}

function cluster(maxParticipants = 100, feedLingerMs = 0) {
  const store = new MemoryPresenceStore();
  const bus = new Bus();
  return { store, bus, a: new Node('nodea', bus, store, maxParticipants, feedLingerMs), b: new Node('nodeb', bus, store, maxParticipants, feedLingerMs) };
}

/** Counts the feeds a store opens: each is a read of the whole channel (a consumer, on JetStream). */
function countFeeds(store: MemoryPresenceStore): { opened: number } {
  const counter = { opened: 0 };
  const follow = store.follow.bind(store);
  store.follow = (...args) => {
    counter.opened++;
    return follow(...args);
  };
  return counter;
}

async function addressesIn(store: MemoryPresenceStore, channel: string): Promise<string[]> {
  return (await store.participants(scope, channel)).map((p) => p.address).sort();
}

/** Waits until `condition` holds (or 3 s passed): deliveries are asynchronous, as they are over NATS. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 3000;
  while (!condition() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

/** Every client holds exactly the store's participants (but itself), and was never told anything twice. */
async function expectConverged(store: MemoryPresenceStore, channel: string, clients: Client[]): Promise<void> {
  const inStore = await addressesIn(store, channel);
  for (const c of clients.filter((each) => inStore.includes(each.session.address))) {
    const others = inStore.filter((address) => address !== c.session.address);
    await until(() => [...c.seen.keys()].sort().join() === others.join());
    expect(c.problems).toEqual([]);
  }
}

describe('PresenceService on the in-memory store', () => {
  it('gives newcomers on either node the full list, then every change once', async () => {
    const { store, a, b } = cluster();
    const clients = [a.client('p1'), b.client('p2'), a.client('p3'), b.client('p4')];
    await Promise.all(clients.map((c, i) => (i % 2 === 0 ? a : b).enter(c, 'room', { n: i })));
    await expectConverged(store, 'room', clients);
    await b.presence.leave(clients[1]!.session, 'room');
    await a.presence.publish(clients[0]!.session, 'room', { state: { n: 'new' } });
    await expectConverged(store, 'room', clients);
    await until(() => clients[3]!.seen.get(clients[0]!.session.address) !== undefined && (clients[3]!.seen.get(clients[0]!.session.address) as { n: unknown }).n === 'new');
  });

  it('catches a node up from the store feed when an event to it is lost', async () => {
    const { bus, a, b } = cluster();
    const watcher = b.client('watcher');
    await b.enter(watcher, 'room');
    bus.drop = (envelope, to) => to === b && envelope.t === 'join';
    const newcomer = a.client('newcomer');
    await a.enter(newcomer, 'room');
    await until(() => watcher.seen.has(newcomer.session.address));
    expect(watcher.log).toEqual([`join ${newcomer.session.address}`]);
    expect(watcher.problems).toEqual([]);
  });

  it('delivers a change once when the event overtakes the store feed, and once when the feed overtakes the event', async () => {
    const { store, bus, a, b } = cluster();
    const watcher = b.client('watcher');
    await b.enter(watcher, 'room');
    // Events held back: the feed brings the join first, then the event comes and is dropped.
    bus.hold();
    const early = a.client('early');
    await a.enter(early, 'room');
    await until(() => watcher.seen.has(early.session.address));
    bus.release();
    // Feed held back: the event brings the leave first, the feed's record of it changes nothing.
    store.hold();
    await a.presence.leave(early.session, 'room');
    await until(() => !watcher.seen.has(early.session.address));
    store.release();
    await expectConverged(store, 'room', [watcher]);
    expect(watcher.log).toEqual([`join ${early.session.address}`, `leave ${early.session.address}`]);
  });

  it('keeps one connection’s join, state, message and leave in the order it sent them', async () => {
    const { a, b } = cluster();
    const watcher = b.client('watcher');
    await b.enter(watcher, 'room');
    const talker = a.client('talker');
    const done = Promise.all([
      a.enter(talker, 'room'),
      a.presence.publish(talker.session, 'room', { state: 1 }),
      a.presence.publish(talker.session, 'room', { text: 'hi' }),
      a.presence.leave(talker.session, 'room'),
    ]);
    await done;
    const from = talker.session.address;
    await until(() => watcher.log.length === 4);
    expect(watcher.log).toEqual([`join ${from}`, `publish ${from} {"state":1}`, `publish ${from} {"text":"hi"}`, `leave ${from}`]);
  });

  it('admits exactly one of two joins racing from two nodes for the last place', async () => {
    const { store, a, b } = cluster(3);
    const first = [a.client('m1'), b.client('m2')];
    for (const c of first) await (c.session.route.startsWith('nodea') ? a : b).enter(c, 'full');
    const racers = [a.client('ra'), b.client('rb')];
    const answers = await Promise.allSettled([a.enter(racers[0]!, 'full'), b.enter(racers[1]!, 'full')]);
    expect(answers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = answers.find((r) => r.status === 'rejected');
    expect((refused as PromiseRejectedResult).reason).toMatchObject({ code: 'limit_exceeded', field: 'id' });
    expect(await addressesIn(store, 'full')).toHaveLength(3);
    await expectConverged(store, 'full', [...first, ...racers]);
  });

  it('admits exactly one of two joins racing from two nodes for the first place of a channel of one', async () => {
    const { store, a, b } = cluster(1);
    const racers = [a.client('ra'), b.client('rb')];
    const answers = await Promise.allSettled([a.enter(racers[0]!, 'solo'), b.enter(racers[1]!, 'solo')]);
    expect(answers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await addressesIn(store, 'solo')).toHaveLength(1);
  });

  it('admits a join into the place a leave on another node just freed', async () => {
    const { store, a, b } = cluster(2);
    const holder = a.client('holder');
    await a.enter(holder, 'room');
    const leaver = b.client('leaver');
    await b.enter(leaver, 'room');
    store.hold();
    const leaving = b.presence.leave(leaver.session, 'room');
    const late = a.client('late');
    const joining = a.enter(late, 'room');
    store.release();
    await Promise.all([leaving, joining]);
    expect(await addressesIn(store, 'room')).toEqual([holder.session.address, late.session.address].sort());
  });

  it('follows a channel for PRESENCE_FEED_LINGER_MS after its last local participant left: a rejoin meanwhile reads nothing, a later one reads again', async () => {
    const { store, a } = cluster(100, 50);
    const feeds = countFeeds(store);
    const first = a.client('first');
    await a.enter(first, 'room');
    await a.presence.leave(first.session, 'room');
    const second = a.client('second');
    await a.enter(second, 'room');
    expect(feeds.opened).toBe(1);
    await a.presence.leave(second.session, 'room');
    await until(() => a.presence.views.get(scope, 'room') === undefined);
    const third = a.client('third');
    await a.enter(third, 'room');
    expect(feeds.opened).toBe(2);
  });

  it('lists every change made while its node only lingered in the channel, hearing no events, for a newcomer there', async () => {
    const { store, bus, a, b } = cluster(100, 60_000);
    const left = a.client('left');
    await a.enter(left, 'room');
    await a.presence.leave(left.session, 'room');
    // Node a has no member left: it is not subscribed to the channel, only its feed goes on.
    bus.drop = (_envelope, to) => to === a;
    const stays = b.client('stays');
    const goes = b.client('goes');
    await b.enter(stays, 'room', { v: 1 });
    await b.enter(goes, 'room');
    await b.presence.leave(goes.session, 'room');
    await b.presence.publish(stays.session, 'room', { state: { v: 2 } });
    bus.drop = undefined;
    const newcomer = a.client('newcomer');
    await a.enter(newcomer, 'room');
    // In the list itself, not as catch-up events around it: the feed's records were applied at once.
    expect([...newcomer.seen]).toEqual([[stays.session.address, { v: 2 }]]);
    expect(newcomer.log).toEqual([]);
    await expectConverged(store, 'room', [newcomer, stays]);
  });
});
