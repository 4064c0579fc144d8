import type { Scope } from '@signal/core';
import { NO_OCCUPANCY, type OccupancyCounts } from '@signal/presence';
import type { MembershipListener } from '../core/hub.js';
import type { Session } from '../core/session.js';

/** Called with a channel's new local counts whenever they change. */
export type CountsChanged = (scope: Scope, channel: string, counts: OccupancyCounts) => void;

interface ChannelCounts {
  connections: number;
  participants: number;
}

/**
 * This gateway's own counts per channel: connections subscribed to it (every surface) and,
 * among them, presence participants. The hub tells it of every membership change.
 */
export class LocalOccupancy implements MembershipListener {
  private readonly channels = new Map<string, ChannelCounts>();
  /** The channels each session is a participant of, so a leave or close knows what to take back. */
  private readonly participating = new Map<Session, Set<string>>();

  constructor(private readonly changed: CountsChanged) {}

  get(scope: Scope, channel: string): OccupancyCounts {
    return this.channels.get(keyOf(scope, channel)) ?? NO_OCCUPANCY;
  }

  /** Channels with at least one local connection. */
  get size(): number {
    return this.channels.size;
  }

  joined(session: Session, channel: string): void {
    this.bump(session.scope, channel, 1, 0);
  }

  present(session: Session, channel: string): void {
    let channels = this.participating.get(session);
    if (!channels) this.participating.set(session, (channels = new Set()));
    if (channels.has(channel)) return;
    channels.add(channel);
    this.bump(session.scope, channel, 0, 1);
  }

  left(session: Session, channel: string): void {
    const channels = this.participating.get(session);
    const wasPresent = channels?.delete(channel) === true;
    if (channels?.size === 0) this.participating.delete(session);
    this.bump(session.scope, channel, -1, wasPresent ? -1 : 0);
  }

  private bump(scope: Scope, channel: string, connections: number, participants: number): void {
    const key = keyOf(scope, channel);
    const counts = this.channels.get(key) ?? { connections: 0, participants: 0 };
    counts.connections += connections;
    counts.participants += participants;
    if (counts.connections <= 0) this.channels.delete(key);
    else this.channels.set(key, counts);
    this.changed(scope, channel, counts.connections <= 0 ? NO_OCCUPANCY : { ...counts });
  }
}

/** Newlines cannot occur in app or environment names, so the key is unambiguous. */
function keyOf(scope: Scope, channel: string): string {
  return `${scope.app}\n${scope.env}\n${channel}`;
}
