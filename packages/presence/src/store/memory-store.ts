import type { Scope } from '@signal/core';
import { channelKeyFilter, nodeOfKey, participantKey } from './keys.js';
import type { ParticipantValue, StoredParticipant } from './participant-entry.js';
import { RevisionConflict, byJoinOrder, presentIn, type ChannelFeed, type ChannelRecord, type FeedListener, type PresenceStore } from './presence-store.js';

interface Slot {
  readonly record: ChannelRecord;
  readonly storedAt: number;
}

interface MemoryFeed {
  readonly prefix: string;
  readonly listener: FeedListener;
  /** Records written but not delivered yet (deliveries are asynchronous, as from a server). */
  readonly queue: ChannelRecord[];
  /** How many queued records at the front are the read made when the feed opened. */
  initial: number;
  closed: boolean;
}

/**
 * The presence store in memory, for unit tests of the logic built on PresenceStore: the same
 * revisions (one counter over every write), compare-and-set, delete markers and feeds as the
 * JetStream store. Feeds deliver on a later turn, in store order; `hold()` keeps every feed's
 * deliveries back until `release()`, so a test can put a write in flight between two nodes.
 */
export class MemoryPresenceStore implements PresenceStore {
  private readonly slots = new Map<string, Slot>();
  private readonly feeds = new Set<MemoryFeed>();
  private revision = 0;
  private held = false;

  keyOf(scope: Scope, channel: string, route: string): string {
    return participantKey(scope, channel, route);
  }

  put(key: string, value: ParticipantValue): Promise<number> {
    return Promise.resolve(this.write(key, value));
  }

  update(key: string, value: ParticipantValue, revision: number): Promise<number> {
    return this.atRevision(key, revision, () => this.write(key, value));
  }

  remove(key: string, revision: number): Promise<number> {
    return this.atRevision(key, revision, () => this.write(key, undefined));
  }

  readChannel(scope: Scope, channel: string): Promise<ChannelRecord[]> {
    return Promise.resolve(this.matching(prefixOf(channelKeyFilter(scope, channel))));
  }

  follow(scope: Scope, channel: string, listener: FeedListener): ChannelFeed {
    const prefix = prefixOf(channelKeyFilter(scope, channel));
    let feed = this.open(prefix, listener);
    return {
      ready: async () => {
        if (feed.closed) throw new Error('feed closed');
        await this.drained(feed);
      },
      reopen: () => {
        feed.closed = true;
        this.feeds.delete(feed);
        feed = this.open(prefix, listener);
      },
      close: () => {
        feed.closed = true;
        this.feeds.delete(feed);
      },
    };
  }

  async participants(scope: Scope, channel: string): Promise<StoredParticipant[]> {
    return presentIn(await this.readChannel(scope, channel)).sort(byJoinOrder);
  }

  entriesOfNode(node: string): Promise<StoredParticipant[]> {
    return Promise.resolve(presentIn([...this.slots.entries()].filter(([key]) => nodeOfKey(key) === node).map(([, slot]) => slot.record)));
  }

  allEntries(): Promise<StoredParticipant[]> {
    return Promise.resolve(presentIn(this.matching('')));
  }

  purgeRemoved(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let purged = 0;
    for (const [key, slot] of this.slots) {
      if (!slot.record.present && slot.storedAt <= cutoff) {
        this.slots.delete(key);
        purged++;
      }
    }
    return Promise.resolve(purged);
  }

  /** Keeps every feed's deliveries back until `release()`. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const feed of this.feeds) this.schedule(feed);
  }

  /** The current revision: that of the latest write. */
  get lastRevision(): number {
    return this.revision;
  }

  private open(prefix: string, listener: FeedListener): MemoryFeed {
    const queue = this.matching(prefix);
    const feed: MemoryFeed = { prefix, listener, queue, initial: queue.length, closed: false };
    this.feeds.add(feed);
    this.schedule(feed);
    return feed;
  }

  private write(key: string, value: ParticipantValue | undefined): number {
    const revision = ++this.revision;
    const record: ChannelRecord = value ? { present: true, participant: { ...value, key, revision } } : { present: false, key, revision };
    this.slots.set(key, { record, storedAt: Date.now() });
    for (const feed of this.feeds) {
      if (!key.startsWith(feed.prefix)) continue;
      feed.queue.push(record);
      this.schedule(feed);
    }
    return revision;
  }

  private atRevision(key: string, revision: number, write: () => number): Promise<number> {
    const current = this.slots.get(key)?.record;
    const currentRevision = current === undefined ? 0 : current.present ? current.participant.revision : current.revision;
    if (currentRevision !== revision) return Promise.reject(new RevisionConflict(key));
    return Promise.resolve(write());
  }

  private matching(prefix: string): ChannelRecord[] {
    const out: ChannelRecord[] = [];
    for (const [key, slot] of this.slots) if (key.startsWith(prefix)) out.push(slot.record);
    return out.sort((a, b) => revisionOf(a) - revisionOf(b));
  }

  private schedule(feed: MemoryFeed): void {
    setImmediate(() => this.deliver(feed));
  }

  private deliver(feed: MemoryFeed): void {
    if (this.held || feed.closed) return;
    for (let record = feed.queue.shift(); record; record = feed.queue.shift()) {
      feed.listener.record(record, feed.initial > 0);
      if (feed.initial > 0) feed.initial--;
    }
  }

  private async drained(feed: MemoryFeed): Promise<void> {
    while (feed.queue.length > 0 || this.held) {
      if (feed.closed) throw new Error('feed closed');
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

function revisionOf(record: ChannelRecord): number {
  return record.present ? record.participant.revision : record.revision;
}

/** A channel filter `a.e.c.*.*` as the key prefix it selects. */
function prefixOf(filter: string): string {
  return filter.slice(0, filter.indexOf('*'));
}
