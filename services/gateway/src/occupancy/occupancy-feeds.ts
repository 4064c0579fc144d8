import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { SignalError, channelSubject, type Scope } from '@signal/core';
import type { MessageGuard } from '@signal/operations';
import {
  NO_OCCUPANCY,
  decodeOccupancy,
  nodeOfOccupancyKey,
  occupancyChannelFilter,
  readNodeOccupancy,
  sameCounts,
  sumLive,
  type KV,
  type KvWatchEntry,
  type NodeOccupancy,
  type OccupancyCounts,
} from '@signal/presence';
import type { TemplatedApp } from 'uWebSockets.js';
import { assertMayReadOccupancy } from '../auth/permissions.js';
import type { Session } from '../core/session.js';
import { occupancyTopicFor } from '../routing/topics.js';
import type { LocalOccupancy } from './local-occupancy.js';
import { occupancyMetrics, occupancyStats } from './occupancy-metrics.js';
import { OCCUPANCY_THROTTLE_MS } from './occupancy-writer.js';

/** How often feeds are looked at for a change to announce. */
const TICK_MS = 100;
const SOURCE = 'occupancy';
const NONE: ReadonlySet<string> = new Set();

export interface OccupancyFeedsDeps {
  nc: NatsConnection;
  kv: KV;
  node: string;
  app: TemplatedApp;
  local: LocalOccupancy;
  /** The live gateway processes, node → instance (liveInstances of the heartbeat watch). */
  live: () => ReadonlyMap<string, string>;
  /** The `signal.occupancy` frame for a channel's counts. */
  render: (channel: string, counts: OccupancyCounts) => string;
  guard: MessageGuard;
}

interface Feed {
  readonly scope: Scope;
  readonly channel: string;
  readonly topic: string;
  /** Subscribed sessions; true once the session gets the notifications (its join succeeded). */
  readonly subscribers: Map<Session, boolean>;
  /** The other gateways' latest keys for this channel, by node, the highest revision kept. */
  readonly remote: Map<string, NodeOccupancy>;
  ready: Promise<void>;
  loaded: boolean;
  watch: QueuedIterator<KvWatchEntry> | undefined;
  closed: boolean;
  /** The counts last announced to the subscribers, and when (performance time). */
  sent: OccupancyCounts;
  sentAt: number;
}

/**
 * Connections' subscriptions to channels' occupancy. Per channel with subscribers, the gateway
 * watches the other gateways' keys (one KV watch) and adds its own counts from memory; every
 * change of the total is announced at most once per OCCUPANCY_THROTTLE_MS, as one uWS topic
 * publish that uWS fans out to every subscriber.
 */
export class OccupancyFeeds {
  private readonly feeds = new Map<string, Feed>();
  private readonly bySession = new Map<Session, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly apply: (feed: Feed, entry: KvWatchEntry) => void;

  constructor(private readonly deps: OccupancyFeedsDeps) {
    this.apply = deps.guard.wrap(SOURCE, (feed: Feed, entry: KvWatchEntry) => this.applyEntry(feed, entry));
  }

  startTicking(): void {
    this.timer = setInterval(() => this.deps.guard.run(SOURCE, () => this.tick()), TICK_MS);
    void this.followConnection();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const feed of this.feeds.values()) this.close(feed);
  }

  /** The channels whose occupancy a session follows or is about to, for the per-connection limits. */
  channelsOf(session: Session): ReadonlySet<string> {
    return this.bySession.get(session) ?? NONE;
  }

  /**
   * Subscribes a session (it is counted from now on) and waits until the channel's feed has read
   * the other gateways' counts. Notifications start with `listen`, once the join succeeded.
   */
  async open(session: Session, channel: string): Promise<void> {
    assertMayReadOccupancy(session.permissions, channel);
    const key = keyOf(session.scope, channel);
    let feed = this.feeds.get(key);
    if (!feed) {
      feed = this.create(session.scope, channel);
      this.feeds.set(key, feed);
      occupancyStats.feeds = this.feeds.size;
    }
    if (!feed.subscribers.has(session)) feed.subscribers.set(session, false);
    let channels = this.bySession.get(session);
    if (!channels) this.bySession.set(session, (channels = new Set()));
    if (!channels.has(channel)) {
      channels.add(channel);
      occupancyStats.subscriptions++;
    }
    try {
      await feed.ready;
    } catch (error) {
      this.unsubscribe(session, channel);
      throw error;
    }
  }

  /**
   * The session's join succeeded: it gets the channel's notifications from now on, and the
   * counts to start from (those last announced; for the first subscriber, the counts now).
   */
  listen(session: Session, channel: string): OccupancyCounts {
    const feed = this.feeds.get(keyOf(session.scope, channel));
    if (!feed || !feed.subscribers.has(session) || !session.ws) return NO_OCCUPANCY;
    if (feed.subscribers.get(session)) return feed.sent;
    if (!hasListeners(feed)) {
      feed.sent = this.total(feed, this.deps.live());
      feed.sentAt = performance.now();
    }
    feed.subscribers.set(session, true);
    session.ws.subscribe(feed.topic);
    return feed.sent;
  }

  unsubscribe(session: Session, channel: string): void {
    const channels = this.bySession.get(session);
    if (!channels?.delete(channel)) return;
    if (channels.size === 0) this.bySession.delete(session);
    occupancyStats.subscriptions--;
    const feed = this.feeds.get(keyOf(session.scope, channel));
    if (!feed) return;
    feed.subscribers.delete(session);
    session.ws?.unsubscribe(feed.topic);
    if (feed.subscribers.size === 0) this.close(feed);
  }

  /** The connection closed (uWS has already dropped its topics). */
  closed(session: Session): void {
    for (const channel of [...(this.bySession.get(session) ?? [])]) this.unsubscribe(session, channel);
  }

  private create(scope: Scope, channel: string): Feed {
    const feed: Feed = {
      scope,
      channel,
      topic: occupancyTopicFor(channelSubject(scope, channel)),
      subscribers: new Map(),
      remote: new Map(),
      ready: Promise.resolve(),
      loaded: false,
      watch: undefined,
      closed: false,
      sent: NO_OCCUPANCY,
      sentAt: performance.now(),
    };
    feed.ready = this.load(feed);
    return feed;
  }

  /**
   * Watch first, read second: whatever changes after the read arrives through the watch, and
   * the higher revision of each key wins, so the two never undo each other.
   */
  private async load(feed: Feed): Promise<void> {
    const { kv, node } = this.deps;
    try {
      const watch = await kv.watch({ key: occupancyChannelFilter(feed.scope, feed.channel) });
      if (feed.closed) return void watch.stop();
      feed.watch = watch;
      void (async () => {
        for await (const entry of watch) this.apply(feed, entry);
      })().catch((error: unknown) => this.deps.guard.drop(SOURCE, 'failed', error));
      const others = [...this.deps.live().keys()].filter((other) => other !== node);
      for (const [other, entry] of await readNodeOccupancy(kv, feed.scope, feed.channel, others)) this.merge(feed, other, entry);
    } catch (error) {
      this.close(feed);
      throw error instanceof SignalError ? error : new SignalError('unavailable', `occupancy store is unreachable: ${(error as Error).message}`, { cause: error });
    }
    feed.loaded = true;
    // On a reload the followers keep what was announced, so the next notification is a change from it.
    if (!hasListeners(feed)) feed.sent = this.total(feed, this.deps.live());
  }

  /**
   * After a NATS outage every watch is opened again and the other gateways' keys read again: a
   * watch may have lost its consumer, and the bucket may have been recreated. Until a feed is
   * loaded again it keeps its counts and announces nothing.
   */
  private async followConnection(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (this.stopped) return;
      if (status.type !== 'reconnect') continue;
      for (const feed of [...this.feeds.values()]) {
        feed.watch?.stop();
        feed.watch = undefined;
        feed.loaded = false;
        // Revisions start again in a recreated bucket: nothing read before may outrank them.
        feed.remote.clear();
        feed.ready = this.load(feed);
        // A feed that cannot be loaded is closed: its subscribers keep their last counts.
        feed.ready.catch((error: unknown) => this.deps.guard.drop(SOURCE, 'failed', error));
      }
    }
  }

  private applyEntry(feed: Feed, entry: KvWatchEntry): void {
    const node = nodeOfOccupancyKey(entry.key);
    if (node === undefined) return this.deps.guard.drop(SOURCE, 'invalid');
    const value = entry.operation === 'PUT' ? decodeOccupancy(entry.value) : undefined;
    if (entry.operation === 'PUT' && !value) this.deps.guard.drop(SOURCE, 'invalid');
    this.merge(feed, node, { revision: entry.revision, value });
  }

  private merge(feed: Feed, node: string, entry: NodeOccupancy): void {
    // This gateway's own counts come from memory, always current.
    if (node === this.deps.node) return;
    const known = feed.remote.get(node);
    if (!known || entry.revision > known.revision) feed.remote.set(node, entry);
  }

  private total(feed: Feed, live: ReadonlyMap<string, string>): OccupancyCounts {
    const own = this.deps.local.get(feed.scope, feed.channel);
    const others = sumLive(feed.remote, live);
    return { connections: own.connections + others.connections, participants: own.participants + others.participants };
  }

  /** Announces each changed total, at most once per OCCUPANCY_THROTTLE_MS per channel. */
  private tick(): void {
    const now = performance.now();
    let live: ReadonlyMap<string, string> | undefined;
    for (const feed of this.feeds.values()) {
      if (!feed.loaded || now - feed.sentAt < OCCUPANCY_THROTTLE_MS) continue;
      live ??= this.deps.live();
      const counts = this.total(feed, live);
      if (sameCounts(counts, feed.sent)) continue;
      feed.sent = counts;
      feed.sentAt = now;
      this.deps.app.publish(feed.topic, this.deps.render(feed.channel, counts));
      occupancyMetrics.updates.inc();
    }
  }

  private close(feed: Feed): void {
    feed.closed = true;
    feed.watch?.stop();
    const key = keyOf(feed.scope, feed.channel);
    if (this.feeds.get(key) === feed) this.feeds.delete(key);
    occupancyStats.feeds = this.feeds.size;
  }
}

/** Whether any subscriber of the feed already gets its notifications. */
function hasListeners(feed: Feed): boolean {
  for (const listening of feed.subscribers.values()) if (listening) return true;
  return false;
}

function keyOf(scope: Scope, channel: string): string {
  return `${scope.app}\n${scope.env}\n${channel}`;
}
