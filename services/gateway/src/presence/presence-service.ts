import { SignalError, channelSubject, type Envelope, type Fields, type Scope } from '@signal/core';
import {
  RevisionConflict,
  checkStateSize,
  joinEnvelope,
  leaveEnvelope,
  scopeOfKey,
  type ChannelFeed,
  type ParticipantValue,
  type ParticipantView,
  type PresenceLimits,
  type PresenceStore,
} from '@signal/presence';
import type { Logger } from 'pino';
import { assertMay, assertMayWriteState, participantLimit } from '../auth/permissions.js';
import type { Hub } from '../core/hub.js';
import { metrics } from '../metrics/gateway-metrics.js';
import type { Session } from '../core/session.js';
import type { ChannelView } from './channel-view.js';
import { ChannelViews } from './channel-views.js';
import { Membership } from './membership.js';

const NONE: ReadonlyMap<string, unknown> = new Map();
/** How long a join waits for its own write to come back through the channel's feed. */
const STORED_TIMEOUT_MS = 5000;

export interface PresenceServiceOptions {
  readonly node: string;
  /** The current process instance (it changes when the node re-announces after being swept). */
  readonly instance: () => string;
  readonly limits: PresenceLimits;
  /**
   * PRESENCE_RETRY_DEADLINE_MS: how long a join may wait for its write to come back through a
   * feed that lost its consumer (a dead stream leader), reopening it meanwhile. Default: none.
   */
  readonly retryDeadlineMs?: number;
  /** PRESENCE_FEED_LINGER_MS: how long this node follows a channel after its last local participant left. Default: 0. */
  readonly feedLingerMs?: number;
}

/** What presence needs of the hub (an in-memory twin stands in for it in unit tests). */
export type PresenceHub = Pick<Hub, 'setEnvelopeFilter' | 'join' | 'leave' | 'publish' | 'assertCanPublish' | 'publishEnvelope' | 'deliverLocally' | 'subscribePresence'>;

/** Called with the participants already there, just before the newcomer starts getting presence events. */
export type Welcome = (participants: readonly ParticipantView[]) => void;

/**
 * Presence on this node: writes each local participant's entry to the store, announces
 * joins, leaves and state changes on the channel subject, and keeps the channel views that
 * put everyone's events in order. Surfaces call it for join, leave and publish.
 */
export class PresenceService {
  readonly views: ChannelViews;
  private readonly memberships = new Map<Session, Map<string, Membership>>();

  constructor(
    private readonly hub: PresenceHub,
    private readonly store: PresenceStore,
    private readonly options: PresenceServiceOptions,
    private readonly log: Logger,
  ) {
    this.views = new ChannelViews(store, (view, apply) => this.fromFeed(view, apply), options.feedLingerMs);
    hub.setEnvelopeFilter(this.views.filter);
  }

  /**
   * Joins a channel as a participant. The newcomer gets `welcome` with everyone already there
   * (this node's view of the channel, which follows the store), then every change after that,
   * in order.
   */
  join(session: Session, channel: string, state: unknown, welcome: Welcome): Promise<readonly ParticipantView[]> {
    assertMay(session.permissions, 'subscribe', channel);
    assertMay(session.permissions, 'presence', channel);
    if (state !== undefined) {
      assertMayWriteState(session.permissions, channel);
      this.checkState(state);
    }
    const membership = this.membershipOf(session, channel, true)!;
    return membership.run(() =>
      membership.status === 'present'
        ? (this.views.get(session.scope, channel)?.participants(session.route) ?? [])
        : this.enter(session, channel, membership, state, welcome),
    );
  }

  /** Leaves a channel; a participant's entry is removed and its leave announced first. */
  leave(session: Session, channel: string): Promise<void> {
    const membership = this.membershipOf(session, channel, false);
    if (!membership) {
      this.hub.leave(session, channel);
      return Promise.resolve();
    }
    return membership.run(async () => {
      await this.exit(session, channel, membership);
      this.hub.leave(session, channel);
    });
  }

  /**
   * Publishes to a channel. A participant's `state` field is stored first, and the message
   * carries the revision of that write; its other publishes queue behind pending presence
   * work so they keep the order they were sent in.
   */
  publish(session: Session, channel: string, fields: Fields): Promise<void> {
    const membership = this.membershipOf(session, channel, false);
    if (!membership) return Promise.resolve(this.hub.publish(session, channel, fields));
    return membership.run(async () => {
      if (membership.status !== 'present' || !('state' in fields)) return this.hub.publish(session, channel, fields);
      this.hub.assertCanPublish(session, channel, fields, true);
      this.checkState(fields.state);
      const value: ParticipantValue = { ...membership.value!, state: fields.state };
      let revision: number;
      try {
        revision = await countStoreRefusal(this.store.update(membership.key!, value, membership.revision));
      } catch (error) {
        if (!(error instanceof RevisionConflict)) throw error;
        throw new SignalError('unavailable', 'your presence entry is being restored after a gateway hiccup; send the state again', { cause: error });
      }
      membership.revision = revision;
      membership.value = value;
      await this.hub.publish(session, channel, fields, revision);
    });
  }

  /** The presence channels a connection is in or joining, for the per-connection limits. */
  channelsOf(session: Session): ReadonlyMap<string, unknown> {
    return this.memberships.get(session) ?? NONE;
  }

  isParticipant(session: Session, channel: string): boolean {
    const status = this.memberships.get(session)?.get(channel)?.status;
    return status !== undefined && status !== 'gone';
  }

  /** The connection closed (the hub has already dropped its subscriptions). */
  close(session: Session): void {
    const memberships = this.memberships.get(session);
    if (!memberships) return;
    for (const [channel, membership] of memberships) {
      membership
        .run(() => this.exit(session, channel, membership))
        .catch((error: unknown) => this.log.warn({ err: error, channel }, 'presence cleanup after close failed'));
    }
  }

  /** Resolves when all presence work queued so far is done (on shutdown, after closing every socket). */
  async drain(): Promise<void> {
    const all = [...this.memberships.values()].flatMap((m) => [...m.values()]);
    await Promise.all(all.map((m) => m.settled()));
  }

  /**
   * After this node was declared dead and swept (it froze, or lost NATS for too long), writes
   * every local participant's entry again under the new process instance and announces it.
   */
  async reannounce(): Promise<void> {
    const work: Promise<void>[] = [];
    for (const [session, memberships] of this.memberships) {
      for (const [channel, membership] of memberships) {
        work.push(
          membership.run(async () => {
            if (membership.status !== 'present' || !membership.key || !membership.value) return;
            const value = { ...membership.value, instance: this.options.instance() };
            membership.revision = await this.store.put(membership.key, value);
            membership.value = value;
            this.hub.publishEnvelope(channelSubject(session.scope, channel), joinEnvelope(value, membership.revision));
          }),
        );
      }
    }
    await Promise.all(work);
  }

  /** Re-reads every local channel from the store and catches local participants up (after a NATS outage). */
  resync(): Promise<void> {
    this.views.reopenAll();
    return Promise.resolve();
  }

  /**
   * Removes this process's entries that no local participant holds: writes whose answer was
   * lost, removals that failed while NATS was away. Nobody else would, since this node is alive.
   */
  async audit(): Promise<number> {
    const entries = await this.store.entriesOfNode(this.options.node);
    const held = new Set<string>();
    for (const memberships of this.memberships.values()) {
      for (const m of memberships.values()) if (m.status !== 'gone' && m.key) held.add(m.key);
    }
    let removed = 0;
    for (const entry of entries) {
      const scope = scopeOfKey(entry.key);
      if (!scope || entry.instance !== this.options.instance() || held.has(entry.key)) continue;
      if (await this.removeEntry(scope, entry.key, entry.revision, entry)) removed++;
    }
    return removed;
  }

  private async enter(session: Session, channel: string, membership: Membership, state: unknown, welcome: Welcome): Promise<readonly ParticipantView[]> {
    if (!session.ws) throw new SignalError('unavailable', 'the connection closed while joining');
    const { scope } = session;
    const joinedHere = this.hub.join(session, channel);
    // Subscribed first, followed second: whatever the feed's first read misses arrives as an event.
    const { view, feed } = this.views.acquire(scope, channel);
    membership.holdsView = true;
    membership.status = 'joining';
    try {
      await feed.ready();
      const limit = participantLimit(session.permissions, channel, this.options.limits.maxParticipants);
      const maxParticipants = limit.most;
      // Events and the feed may each lag the other: refused before writing only when both say full.
      if (Math.min(view.count(session.route), view.storedCount(session.route)) >= maxParticipants) throw channelFull(channel, limit);
      const value: ParticipantValue = {
        channel,
        address: session.address,
        identity: session.identity,
        device: session.device,
        node: this.options.node,
        instance: this.options.instance(),
        joinedAt: Date.now(),
        ...(state === undefined ? {} : { state }),
      };
      // Known before the write, so the audit never takes a half-written join for a leftover.
      membership.key = this.store.keyOf(scope, channel, session.route);
      membership.value = value;
      membership.revision = await countStoreRefusal(this.store.put(membership.key, value));
      // Joins racing from other nodes all passed the check above; the store's order decides.
      // Whoever finds the limit reached before its own write withdraws. Nobody was told of its
      // join; the leave only matters to a reader that saw the entry in the store meanwhile.
      const others = await this.othersWhenStored(view, feed, session.route, membership.revision, membership.key, value);
      if (others >= maxParticipants) {
        await this.removeEntry(scope, membership.key, membership.revision, value);
        throw channelFull(channel, limit);
      }
      membership.status = 'present';
      this.views.attend(scope, channel, true);
      this.hub.publishEnvelope(channelSubject(scope, channel), joinEnvelope(value, membership.revision));
      const participants = view.participants(session.route);
      if (session.ws) {
        welcome(participants);
        this.hub.subscribePresence(session, channel);
      }
      return participants;
    } catch (error) {
      if (membership.status === 'present') this.views.attend(scope, channel, false);
      membership.status = 'gone';
      membership.key = undefined;
      this.releaseView(session, channel, membership);
      if (joinedHere) this.hub.leave(session, channel);
      throw error;
    }
  }

  /**
   * Others present just before our write, from the channel's feed. A feed that brings nothing
   * for STORED_TIMEOUT_MS may have lost its consumer (it lived on a stream leader that died):
   * it is opened again, and its first read brings the write, until the retry deadline. The
   * write is withdrawn if it never comes.
   */
  private async othersWhenStored(view: ChannelView, feed: ChannelFeed, route: string, revision: number, key: string, value: ParticipantValue): Promise<number> {
    const deadline = performance.now() + Math.max(STORED_TIMEOUT_MS, this.options.retryDeadlineMs ?? 0);
    const stored = view.othersWhenStored(route, revision);
    let timer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        const wait = Math.min(STORED_TIMEOUT_MS, deadline - performance.now());
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), wait)));
        const others = await Promise.race([stored, late]);
        clearTimeout(timer);
        if (others !== 'late') return others;
        if (performance.now() >= deadline) throw new SignalError('unavailable', 'presence store did not confirm the join in time; try again');
        feed.reopen();
      }
    } catch (error) {
      view.stopWaiting(route);
      await this.removeEntry(view.scope, key, revision, value);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Records from a channel's feed applied to its view, what they changed delivered to local participants. */
  private fromFeed(view: ChannelView, apply: () => Envelope[]): void {
    try {
      this.catchUp(view, apply());
    } catch (error) {
      // Called from the store's delivery loop or a timer: nothing may escape into it.
      this.log.warn({ err: error, channel: view.channel }, 'presence catch-up could not be delivered');
    }
  }

  private async exit(session: Session, channel: string, membership: Membership): Promise<void> {
    const { key, revision, value } = membership;
    const wasPresent = membership.status === 'present';
    if (wasPresent) this.views.attend(session.scope, channel, false);
    membership.status = 'gone';
    membership.key = undefined;
    this.releaseView(session, channel, membership);
    if (wasPresent && key && value) await this.removeEntry(session.scope, key, revision, value);
  }

  /** Removes an entry and announces the leave; false when someone else already did (a sweep). */
  private async removeEntry(scope: Scope, key: string, revision: number, value: ParticipantValue): Promise<boolean> {
    try {
      const leaveRevision = await this.store.remove(key, revision);
      this.hub.publishEnvelope(channelSubject(scope, value.channel), leaveEnvelope(value.channel, value.address, leaveRevision));
      return true;
    } catch (error) {
      if (error instanceof RevisionConflict) return false;
      this.log.warn({ err: error, channel: value.channel }, 'presence entry could not be removed now; the next audit removes it');
      return false;
    }
  }

  private checkState(state: unknown): void {
    try {
      checkStateSize(state, this.options.limits.maxStateBytes);
    } catch (error) {
      metrics.limitRefusals.inc({ limit: 'presence_max_state_bytes' });
      throw error;
    }
  }

  private releaseView(session: Session, channel: string, membership: Membership): void {
    if (!membership.holdsView) return;
    membership.holdsView = false;
    this.views.release(session.scope, channel);
  }

  private catchUp(view: ChannelView, envelopes: Envelope[]): void {
    for (const envelope of envelopes) this.hub.deliverLocally(view.scope, view.channel, envelope);
  }

  private membershipOf(session: Session, channel: string, create: boolean): Membership | undefined {
    let memberships = this.memberships.get(session);
    let membership = memberships?.get(channel);
    if (membership || !create) return membership;
    if (!memberships) {
      memberships = new Map();
      this.memberships.set(session, memberships);
    }
    const own = memberships;
    membership = new Membership((idle) => {
      if (own.get(channel) !== idle) return;
      own.delete(channel);
      if (own.size === 0 && this.memberships.get(session) === own) this.memberships.delete(session);
    });
    own.set(channel, membership);
    return membership;
  }
}

/** The store refuses a write over its bucket limits with limit_exceeded naming the variable; counted here. */
async function countStoreRefusal<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    const limit = error instanceof SignalError && error.code === 'limit_exceeded' ? (error.data as { limit?: string } | undefined)?.limit : undefined;
    if (limit !== undefined) metrics.limitRefusals.inc({ limit: limit.toLowerCase() });
    throw error;
  }
}

function channelFull(channel: string, limit: { most: number; setBy: string }): SignalError {
  metrics.limitRefusals.inc({ limit: limit.setBy === 'PRESENCE_MAX_PARTICIPANTS' ? 'presence_max_participants' : 'namespace_max_participants' });
  return new SignalError(
    'limit_exceeded',
    `channel '${channel}' already has ${limit.most} participants, the most allowed (${limit.setBy}); try again later`,
    { field: 'id' },
  );
}
