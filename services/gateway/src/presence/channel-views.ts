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
 * participant (joining or joined), reference-counted like the channel's subscription. Each
 * follows its channel in the store from the first local join to the last local leave, so
 * joins after the first on this node read nothing from the store.
 */
export class ChannelViews {
  private readonly views = new Map<string, Entry>();

  constructor(
    private readonly store: PresenceStore,
    private readonly catchUp: CatchUp,
  ) {}

  acquire(scope: Scope, channel: string): FollowedChannel {
    const id = viewId(scope, channel);
    let entry = this.views.get(id);
    if (!entry) {
      const view = new ChannelView(scope, channel);
      const created: Entry = { view, feed: undefined as unknown as ChannelFeed, holders: 0, flush: undefined };
      created.feed = this.store.follow(scope, channel, { record: (record, initial) => this.fromFeed(created, record, initial) });
      entry = created;
      this.views.set(id, entry);
      metrics.presenceFeeds.set(this.views.size);
    }
    entry.holders++;
    return entry;
  }

  release(scope: Scope, channel: string): void {
    const id = viewId(scope, channel);
    const entry = this.views.get(id);
    if (!entry) return;
    if (--entry.holders > 0) return;
    this.views.delete(id);
    metrics.presenceFeeds.set(this.views.size);
    entry.feed.close();
    clearTimeout(entry.flush);
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
   * A record from a channel's feed. What it read at (re)opening is shown at once: a newcomer's
   * list is taken right after. Live records are shown after the grace, unless events did first.
   */
  private fromFeed(entry: Entry, record: ChannelRecord, initial: boolean): void {
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
  /** Shows deferred feed records when their grace is over. */
  flush: NodeJS.Timeout | undefined;
}

function viewId(scope: Scope, channel: string): string {
  return `${scope.app}\u0000${scope.env}\u0000${channel}`;
}
