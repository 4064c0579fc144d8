import { isDeepStrictEqual } from 'node:util';
import type { Envelope, PublishEnvelope, Scope } from '@signal/core';
import { joinEnvelope, leaveEnvelope, routeOfKey, stateEnvelope, type ChannelRecord, type ParticipantView } from '@signal/presence';

interface Known {
  /** Revision of the latest store write we know of for this connection in this channel. */
  rev: number;
  present: boolean;
  address: string;
  state: unknown;
  joinedAt: number;
  /** Local time the participant left; tombstones are kept a while to recognise late events. */
  leftAt: number;
}

/** A connection's latest record as the feed brought it. */
interface Stored {
  rev: number;
  present: boolean;
  /** Other connections present in the store just before this record was written. */
  othersBefore: number;
}

/**
 * This node's view of one presence channel, shared by all its local participants in it.
 *
 * Events arrive from many publishers (each participant's gateway, a sweeper), so they can
 * arrive out of order or twice; and a newcomer reads the store, which may be ahead of the
 * events. Every store write has a revision, and every event carries the revision it
 * announces, so the view keeps, per connection, the highest revision seen and ignores
 * anything older. Whatever changes the view is also delivered to the local participants,
 * so each of them always sees exactly the view's history from the moment it joined.
 */
export class ChannelView {
  private readonly known = new Map<string, Known>();
  /**
   * The store's own order, apart from `known` (which events may run ahead of): per connection,
   * the latest record the feed brought and whether it is present. Counted for the limit.
   */
  private readonly stored = new Map<string, Stored>();
  private storedPresent = 0;
  /**
   * What newcomers are given for each connection present in `known`: one object per participant
   * until its state changes, shared by every list, so surfaces can keep what they render of it
   * (welcome frames, its JSON) for as long as it is the same object; never mutated. Kept apart: `known` also keeps a tombstone of
   * everyone who left in the last PRESENCE_JANITOR_MS, and in a busy channel those outnumber the
   * present many times over (a list built from `known` cost a gateway 12 % of its CPU in the
   * memory soak: every join walked a minute of leaves).
   */
  private readonly present = new Map<string, ParticipantView>();
  /** Everyone present, earliest joiner first; rebuilt on demand after any change. */
  private ordered: ParticipantView[] | undefined;
  private readonly waiters = new Map<string, { rev: number; resolve: (others: number) => void }>();
  /** Live records from the feed not shown yet: the channel's events get a head start (see defer). */
  private deferred: { record: ChannelRecord; at: number }[] = [];

  constructor(
    readonly scope: Scope,
    readonly channel: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** An event from the channel's subject: what to deliver locally, or undefined to drop it. */
  accept(envelope: Envelope): Envelope | undefined {
    if (envelope.t === 'join' && envelope.rev !== undefined) {
      const route = routeOf(envelope.from);
      if (!this.isNewer(route, envelope.rev)) return undefined;
      this.setPresent(route, envelope.rev, envelope.from, envelope.state, envelope.at ?? Date.now());
      return envelope;
    }
    if (envelope.t === 'leave' && envelope.rev !== undefined) {
      const route = routeOf(envelope.from);
      if (!this.isNewer(route, envelope.rev)) return undefined;
      const wasPresent = this.known.get(route)?.present === true;
      this.tombstone(route, envelope.rev, envelope.from);
      return wasPresent ? envelope : undefined;
    }
    if (envelope.t === 'publish' && envelope.rev !== undefined && envelope.from !== undefined) {
      const current = this.known.get(routeOf(envelope.from));
      if (current?.present && current.rev < envelope.rev) {
        this.setPresent(routeOf(envelope.from), envelope.rev, current.address, envelope.fields.state, current.joinedAt);
        return envelope;
      }
      // Already superseded (or about someone not here): the message goes on, the old state does not.
      return withoutState(envelope);
    }
    return envelope;
  }

  /**
   * Resolves, once the store's record of `route` at `rev` came through the feed, with how many
   * other connections were present in the store just before it: the feed brings writes in the
   * store's order, so this is exact, whatever events ran ahead.
   */
  othersWhenStored(route: string, rev: number): Promise<number> {
    return new Promise((resolve) => {
      const current = this.stored.get(route);
      if (current?.rev === rev) resolve(current.othersBefore);
      else if (current && current.rev > rev) resolve(this.storedOthers(route));
      else this.waiters.set(route, { rev, resolve });
    });
  }

  /** Forgets a wait that timed out. */
  stopWaiting(route: string): void {
    this.waiters.delete(route);
  }

  /**
   * Applies records from the store's feed, in the store's order: what is newer than what we
   * know changes the view; returns the events that catch local participants up.
   */
  merge(records: readonly ChannelRecord[]): Envelope[] {
    const catchUp: Envelope[] = [];
    this.apply(records, catchUp);
    return catchUp;
  }

  /** Applies records like merge, for a view whose changes nobody is to be told of (no local participant present). */
  absorb(records: readonly ChannelRecord[]): void {
    this.apply(records, undefined);
  }

  private apply(records: readonly ChannelRecord[], catchUp: Envelope[] | undefined): void {
    for (const record of records) {
      this.noteStored(record);
      if (record.present) {
        const p = record.participant;
        const route = routeOf(p.address);
        if (!this.isNewer(route, p.revision)) continue;
        const current = this.known.get(route);
        const wasPresent = current?.present === true;
        const stateBefore = current?.state;
        this.setPresent(route, p.revision, p.address, p.state, p.joinedAt, p.identity, p.device);
        if (catchUp === undefined) continue;
        if (!wasPresent) catchUp.push(joinEnvelope(p, p.revision));
        else if (!isDeepStrictEqual(stateBefore, p.state)) {
          catchUp.push(stateEnvelope(this.channel, p.address, { state: p.state ?? null }, p.revision));
        }
      } else {
        const route = routeOfKey(record.key);
        if (route === undefined || !this.isNewer(route, record.revision)) continue;
        const current = this.known.get(route);
        this.tombstone(route, record.revision, current?.address ?? '');
        if (current?.present) catchUp?.push(leaveEnvelope(this.channel, current.address, record.revision));
      }
    }
  }

  /**
   * A live record from the feed: counted at once (othersWhenStored), shown only once `graceMs`
   * passed without the channel's event showing it first (takeDue). Events keep each
   * connection's order (a message sent before a leave arrives before the leave); the feed
   * comes by another path and could overtake them, so it only repairs what events missed.
   */
  defer(record: ChannelRecord): void {
    this.noteStored(record);
    this.deferred.push({ record, at: this.now() });
  }

  /** Every deferred record, oldest first, whatever its grace (none when nothing is deferred). */
  takeDeferred(): ChannelRecord[] {
    if (this.deferred.length === 0) return [];
    const all = this.deferred.map((d) => d.record);
    this.deferred = [];
    return all;
  }

  /** Deferred records whose grace is over, oldest first, and in how many ms the next one is due. */
  takeDue(graceMs: number): { due: ChannelRecord[]; nextInMs: number | undefined } {
    const cutoff = this.now() - graceMs;
    let n = 0;
    while (n < this.deferred.length && this.deferred[n]!.at <= cutoff) n++;
    const due = this.deferred.slice(0, n).map((d) => d.record);
    this.deferred = this.deferred.slice(n);
    const next = this.deferred[0];
    return { due, nextInMs: next === undefined ? undefined : Math.max(0, next.at - cutoff) };
  }

  /**
   * Everyone present, except `route` (the asker), earliest joiner first (ties in the order the
   * view learnt of them). The entries are shared between calls (see `present`): read only.
   */
  participants(exceptRoute?: string): readonly ParticipantView[] {
    this.ordered ??= [...this.present.values()].sort((a, b) => a.joinedAt - b.joinedAt);
    const asker = exceptRoute === undefined ? undefined : this.present.get(exceptRoute);
    return asker === undefined ? [...this.ordered] : this.ordered.filter((view) => view !== asker);
  }

  count(exceptRoute?: string): number {
    return this.present.size - (exceptRoute !== undefined && this.present.has(exceptRoute) ? 1 : 0);
  }

  /** Participants but `route` as the store's feed has them (events may be ahead or behind). */
  storedCount(route: string): number {
    return this.storedOthers(route);
  }

  /** Forgets tombstones older than `ageMs`: no event can still be that late. */
  prune(ageMs: number): void {
    const limit = this.now() - ageMs;
    for (const [route, k] of this.known) {
      if (k.present || k.leftAt >= limit) continue;
      this.known.delete(route);
      if (this.stored.get(route)?.present === false) this.stored.delete(route);
    }
  }

  private noteStored(record: ChannelRecord): void {
    const route = record.present ? routeOf(record.participant.address) : routeOfKey(record.key);
    if (route === undefined) return;
    const rev = record.present ? record.participant.revision : record.revision;
    const current = this.stored.get(route);
    if (current && current.rev >= rev) return;
    // The channel as it was just before this write, kept for a join that asks after its write came through.
    const othersBefore = this.storedOthers(route);
    const waiter = this.waiters.get(route);
    if (waiter && waiter.rev <= rev) {
      this.waiters.delete(route);
      waiter.resolve(othersBefore);
    }
    if (current?.present) this.storedPresent--;
    if (record.present) this.storedPresent++;
    // A removed connection stays only while the view keeps its tombstone (see prune).
    this.stored.set(route, { rev, present: record.present, othersBefore });
  }

  private storedOthers(route: string): number {
    return this.storedPresent - (this.stored.get(route)?.present ? 1 : 0);
  }

  private isNewer(route: string, rev: number): boolean {
    const current = this.known.get(route);
    return current === undefined || current.rev < rev;
  }

  /** `identity` and `device` as a store record has them; taken from the address otherwise (an event's `from`). */
  private setPresent(route: string, rev: number, address: string, state: unknown, joinedAt: number, identity?: string, device?: string): void {
    if (identity === undefined || device === undefined) [identity = '', device = ''] = address.split('/');
    const view: ParticipantView = { address, identity, device, joinedAt };
    if (state !== undefined && state !== null) view.state = state;
    this.known.set(route, { rev, present: true, address, state, joinedAt, leftAt: 0 });
    this.present.set(route, view);
    this.ordered = undefined;
  }

  private tombstone(route: string, rev: number, address: string): void {
    if (this.present.delete(route)) this.ordered = undefined;
    this.known.set(route, { rev, present: false, address, state: undefined, joinedAt: 0, leftAt: this.now() });
  }
}

function routeOf(address: string): string {
  return address.slice(address.lastIndexOf('/') + 1);
}

function withoutState(envelope: PublishEnvelope): PublishEnvelope | undefined {
  const { state: _state, ...rest } = envelope.fields;
  if (Object.keys(rest).length === 0) return undefined;
  return { t: 'publish', ch: envelope.ch, ...(envelope.from === undefined ? {} : { from: envelope.from }), fields: rest };
}
