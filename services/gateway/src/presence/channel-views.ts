import type { Envelope, Scope } from '@signal/core';
import { ChannelView } from './channel-view.js';

/**
 * The channel views of this node: one per presence channel with at least one local
 * participant (joining or joined), reference-counted like the channel's subscription.
 */
export class ChannelViews {
  private readonly views = new Map<string, { view: ChannelView; holders: number }>();

  acquire(scope: Scope, channel: string): ChannelView {
    const id = viewId(scope, channel);
    let entry = this.views.get(id);
    if (!entry) {
      entry = { view: new ChannelView(scope, channel), holders: 0 };
      this.views.set(id, entry);
    }
    entry.holders++;
    return entry.view;
  }

  release(scope: Scope, channel: string): void {
    const id = viewId(scope, channel);
    const entry = this.views.get(id);
    if (!entry) return;
    if (--entry.holders <= 0) this.views.delete(id);
  }

  get(scope: Scope, channel: string): ChannelView | undefined {
    return this.views.get(viewId(scope, channel))?.view;
  }

  all(): ChannelView[] {
    return [...this.views.values()].map((e) => e.view);
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
