import type { Envelope, Scope } from '@signal/core';
import type { ChannelFeed, ChannelRecord, PresenceStore } from '@signal/presence';
import { metrics } from '../metrics/gateway-metrics.js';
import { ChannelView } from './channel-view.js';

/** A channel this node follows: its view, and the store feed that keeps the view in the store's order. */
export interface FollowedChannel {
  readonly view: ChannelView;
  readonly feed: ChannelFeed;
}

/**
 * Applies feed records to a view (`apply`, which returns the catch-up events) and delivers the
 * events to this node's local participants of the channel. Runs in the store's delivery loop or
 * a timer, so it must contain its own failures.
 */
export type CatchUp = (view: ChannelView, apply: () => Envelope[]) => void;

/** How long a live feed record waits for the channel's event to show it first (ChannelView.defer). */
export const FEED_GRACE_MS = 200;

/**
 * The channel views of this node: one per presence channel with at least one local
 * participant (joining or joined), or that had one less than `lingerMs` ago, reference-counted
 * like the channel's subscription. Each
 * follows its channel in the store from the first local join until `lingerMs` after the last
 * local leave, so joins after the first on this node read nothing from the store, and neither
 * does a channel whose few local participants come and go (one leaves, another joins: each
 * reopening would create a consumer and read every key again, delete markers included).
 */
export class ChannelViews {
  private readonly views = new Map<string, Entry>();
  /** Entries nobody holds, in the order they were let go (so the oldest come first). */
  private readonly idle = new Map<string, Entry>();
  private reaper: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: PresenceStore,
    private readonly catchUp: CatchUp,
    /** PRESENCE_FEED_LINGER_MS: how long a view nobody holds keeps following its channel; 0 closes it at once. */
    private readonly lingerMs = 0,
  ) {}

  acquire(scope: Scope, channel: string): FollowedChannel {
    const id = viewId(scope, channel);
    let entry = this.views.get(id);
    if (!entry) {
      const view = new ChannelView(scope, channel);
      const created: Entry = { view, feed: undefined as unknown as ChannelFeed, holders: 0, present: 0, idleSince: 0, flush: undefined };
      created.feed = this.store.follow(scope, channel, { record: (record, initial) => this.fromFeed(created, record, initial) });
      entry = created;
      this.views.set(id, entry);
      metrics.presenceFeeds.set(this.views.size);
    }
    if (entry.holders++ === 0) this.idle.delete(id);
    return entry;
  }

  release(scope: Scope, channel: string): void {
    const id = viewId(scope, channel);
    const entry = this.views.get(id);
    if (!entry) return;
    if (--entry.holders > 0) return;
    if (this.lingerMs === 0) return this.close(id, entry);
    entry.idleSince = performance.now();
    this.idle.set(id, entry);
    // One timer for every idle view, not one each: a node may let go of thousands of channels a minute.
    this.reaper ??= setInterval(() => this.reap(), Math.min(this.lingerMs, 1000)).unref();
  }

  /**
   * A local participant of the channel became present (it gets the channel's events from now
   * on), or stopped being. While none is, feed records are applied at once, silently (see fromFeed).
   */
  attend(scope: Scope, channel: string, present: boolean): void {
    const entry = this.views.get(viewId(scope, channel));
    if (entry) entry.present += present ? 1 : -1;
  }

  get(scope: Scope, channel: string): ChannelView | undefined {
    return this.views.get(viewId(scope, channel))?.view;
  }

  all(): ChannelView[] {
    return [...this.views.values()].map((e) => e.view);
  }

  /** Reads every followed channel again from the store (after a NATS outage or a sweep of this node). */
  reopenAll(): void {
    for (const entry of this.views.values()) entry.feed.reopen();
  }

  /**
   * A record from a channel's feed. While no local participant is present, nobody here gets the
   * channel's presence events: the record only brings the view up to date, at once, so a
   * joiner's list holds every write before its own (the node may not even be subscribed to the
   * channel's events: a lingering view). Otherwise what the feed read at (re)opening is shown
   * at once, and live records after the grace, unless events showed them first.
   */
  private fromFeed(entry: Entry, record: ChannelRecord, initial: boolean): void {
    if (entry.present === 0) {
      clearTimeout(entry.flush);
      entry.flush = undefined;
      const deferred = entry.view.takeDeferred();
      entry.view.absorb(deferred.length === 0 ? [record] : [...deferred, record]);
      return;
    }
    if (initial) {
      this.catchUp(entry.view, () => entry.view.merge([record]));
      return;
    }
    entry.view.defer(record);
    entry.flush ??= setTimeout(() => this.flush(entry), FEED_GRACE_MS);
  }

  private flush(entry: Entry): void {
    entry.flush = undefined;
    const { due, nextInMs } = entry.view.takeDue(FEED_GRACE_MS);
    if (nextInMs !== undefined) entry.flush = setTimeout(() => this.flush(entry), nextInMs);
    this.catchUp(entry.view, () => entry.view.merge(due));
  }

  /** Closes the views nobody has held for `lingerMs`. */
  private reap(): void {
    const cutoff = performance.now() - this.lingerMs;
    for (const [id, entry] of this.idle) {
      if (entry.idleSince > cutoff) break;
      this.close(id, entry);
    }
    if (this.idle.size === 0) {
      clearInterval(this.reaper);
      this.reaper = undefined;
    }
  }

  private close(id: string, entry: Entry): void {
    this.idle.delete(id);
    this.views.delete(id);
    metrics.presenceFeeds.set(this.views.size);
    entry.feed.close();
    clearTimeout(entry.flush);
  }

  /** The hub's envelope filter: channel events pass through the channel's view, if this node has one. */
  readonly filter = (scope: Scope, envelope: Envelope): Envelope | undefined => {
    if (envelope.ch === undefined || envelope.t === 'send') return envelope;
    const view = this.views.get(viewId(scope, envelope.ch))?.view;
    return view ? view.accept(envelope) : envelope;
  };
}

interface Entry extends FollowedChannel {
  feed: ChannelFeed;
  holders: number;
  /** Local participants present (getting the channel's events). */
  present: number;
  /** When the last holder let go (performance.now()), while nobody holds it. */
  idleSince: number;
  /** Shows deferred feed records when their grace is over. */
  flush: NodeJS.Timeout | undefined;
}

function viewId(scope: Scope, channel: string): string {
  return `${scope.app}\u0000${scope.env}\u0000${channel}`;
}
