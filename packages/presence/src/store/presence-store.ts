import type { Scope } from '@signal/core';
import type { ParticipantValue, StoredParticipant } from './participant-entry.js';

/** A key's latest record: a participant, or the revision at which it was removed. */
export type ChannelRecord =
  | { readonly present: true; readonly participant: StoredParticipant }
  | { readonly present: false; readonly key: string; readonly revision: number };

/** Header of a delete marker written by a sweep of a dead gateway process: the sweeping node. */
export const SWEPT_BY_HEADER = 'Signal-Swept-By';

/** Revision conflicts: the entry changed since it was read (someone else swept or rewrote it). */
export class RevisionConflict extends Error {
  constructor(key: string) {
    super(`presence entry ${key} changed concurrently`);
  }
}

/** Where a followed channel's records go, in store order. Called from the store's delivery loop: must not throw. */
export interface FeedListener {
  /** `initial`: part of the read of every key's latest record when the feed (re)opened; otherwise a write since. */
  record(record: ChannelRecord, initial: boolean): void;
}

/**
 * A channel followed for as long as a node has participants in it: first every key's latest
 * record, then every write, in the order the store took them, nothing missed. If the store's
 * delivery breaks off (a lost message, a NATS outage), the feed reads the channel again from
 * the start and goes on; records already seen come again and are recognised by revision.
 */
export interface ChannelFeed {
  /**
   * Resolves once every record the channel had when the feed (re)opened was delivered; rejects
   * with `unavailable` when the store could not be read. After a failure, the next call opens again.
   */
  ready(): Promise<void>;
  /** Reads the channel again from the start (after a NATS outage, when the feed may be gone). */
  reopen(): void;
  close(): void;
}

/**
 * Every read and write of participant entries, and nothing else: the gateway's presence logic
 * (ordering, catch-up, limits) is written against this, runs on JetStream KV in the services
 * (`JetStreamPresenceStore`) and on `MemoryPresenceStore` in unit tests. Revisions number
 * every write to the store, strictly increasing, and a delete leaves a marker with its own
 * revision.
 */
export interface PresenceStore {
  keyOf(scope: Scope, channel: string, route: string): string;
  /** Writes an entry and returns its revision. */
  put(key: string, value: ParticipantValue): Promise<number>;
  /** Rewrites an entry only if it is still at `revision`; RevisionConflict otherwise. */
  update(key: string, value: ParticipantValue, revision: number): Promise<number>;
  /**
   * Deletes an entry only if it is still at `revision` (RevisionConflict otherwise), and returns
   * the delete marker's revision: the leave event carries it so every node orders it after the
   * entry's writes. A sweep names the sweeping node in `sweptBy`, kept with the delete marker, so
   * whoever reads the store's history (the webhooks dispatcher) knows the leave was a sweep.
   */
  remove(key: string, revision: number, sweptBy?: string): Promise<number>;
  /** The latest record of every key of a channel, removed ones included (with their revisions). */
  readChannel(scope: Scope, channel: string): Promise<ChannelRecord[]>;
  /** Follows a channel until `close` (see ChannelFeed). */
  follow(scope: Scope, channel: string, listener: FeedListener): ChannelFeed;
  /** The participants of a channel, earliest joiner first. */
  participants(scope: Scope, channel: string): Promise<StoredParticipant[]>;
  /** Every entry a gateway node holds. */
  entriesOfNode(node: string): Promise<StoredParticipant[]>;
  /** Every entry in the store, for the janitor. */
  allEntries(): Promise<StoredParticipant[]>;
  /** Drops delete markers older than `olderThanMs`; returns how many. */
  purgeRemoved(olderThanMs: number): Promise<number>;
}

/** The present participants among records. */
export function presentIn(records: readonly ChannelRecord[]): StoredParticipant[] {
  return records.flatMap((r) => (r.present ? [r.participant] : []));
}

/** Earliest joiner first; the store's order among equal join times. */
export function byJoinOrder(a: StoredParticipant, b: StoredParticipant): number {
  return a.joinedAt - b.joinedAt || a.revision - b.revision;
}
