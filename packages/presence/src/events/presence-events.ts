import type { NatsConnection } from '@nats-io/transport-node';
import {
  ENVIRONMENTS,
  channelSubject,
  encodeEnvelope,
  type Environment,
  type Fields,
  type JoinEnvelope,
  type LeaveEnvelope,
  type PublishEnvelope,
  type Scope,
} from '@signal/core';
import type { ParticipantValue } from '../store/participant-entry.js';

/**
 * Presence events travel on the channel's own subject, so they stay in order with the
 * channel's messages from the same publisher. Each carries the revision of the store write
 * it announces.
 */
export function joinEnvelope(participant: ParticipantValue, revision: number): JoinEnvelope {
  const base = { t: 'join' as const, ch: participant.channel, from: participant.address, rev: revision, at: participant.joinedAt };
  return participant.state === undefined || participant.state === null ? base : { ...base, state: participant.state };
}

export function leaveEnvelope(channel: string, address: string, revision: number): LeaveEnvelope {
  return { t: 'leave', ch: channel, from: address, rev: revision };
}

/** A channel message whose `state` was stored as the sender's participant state. */
export function stateEnvelope(channel: string, address: string, fields: Fields, revision: number): PublishEnvelope {
  return { t: 'publish', ch: channel, from: address, fields, rev: revision };
}

export function publishLeave(nc: NatsConnection, scope: Scope, channel: string, address: string, revision: number): void {
  nc.publish(channelSubject(scope, channel), encodeEnvelope(leaveEnvelope(channel, address, revision)));
}

/** The scope a participant key belongs to (its first two tokens). */
export function scopeOfKey(key: string): Scope | undefined {
  const [app, env] = key.split('.');
  if (app === undefined || !ENVIRONMENTS.includes(env as Environment)) return undefined;
  return { app, env: env as Environment };
}
