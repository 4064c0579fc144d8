import type { Envelope, Scope } from '@signal/core';
import type { ChannelFeed, ChannelRecord, PresenceStore } from '@signal/presence';
import { ChannelView } from './channel-view.js';

/** A channel this node follows: its view, and the store feed that keeps the view in the store's order. */
export interface FollowedChannel {
  readonly view: ChannelView;
  readonly feed: ChannelFeed;
}

/** What becomes of a record from a feed: merged into `view`, catch-up events delivered locally. */
export type FeedHandler = (view: ChannelView, record: ChannelRecord) => void;

/**
 * The channel views of this node: one per presence channel with at least one local
 * participant (joining or joined), reference-counted like the channel's subscription. Each
 * follows its channel in the store from the first local join to the last local leave, so
 * joins after the first on this node read nothing from the store.
 */
export class ChannelViews {
  private readonly views = new Map<string, FollowedChannel & { holders: number }>();

  constructor(
    private readonly store: PresenceStore,
    private readonly onRecord: FeedHandler,
  ) {}

  acquire(scope: Scope, channel: string): FollowedChannel {
    const id = viewId(scope, channel);
    let entry = this.views.get(id);
    if (!entry) {
      const view = new ChannelView(scope, channel);
      const feed = this.store.follow(scope, channel, { record: (record) => this.onRecord(view, record) });
      entry = { view, feed, holders: 0 };
      this.views.set(id, entry);
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
    entry.feed.close();
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

  /** The hub's envelope filter: channel events pass through the channel's view, if this node has one. */
  readonly filter = (scope: Scope, envelope: Envelope): Envelope | undefined => {
    if (envelope.ch === undefined || envelope.t === 'send') return envelope;
    const view = this.views.get(viewId(scope, envelope.ch))?.view;
    return view ? view.accept(envelope) : envelope;
  };
}

function viewId(scope: Scope, channel: string): string {
  return `${scope.app}\u0000${scope.env}\u0000${channel}`;
}
