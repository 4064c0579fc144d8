import type { Envelope, JoinEnvelope } from '@signal/core';
import type { ParticipantView } from '@signal/presence';
import type { Rendered, Surface } from '../../core/surface.js';

/**
 * Server → client frames are notifications with full `signal.*` method names: the Bit6 SDK
 * routes on the part before the first dot and drops anything else.
 */
export function renderRpcNotification(envelope: Envelope): string {
  switch (envelope.t) {
    case 'publish':
      // A channel that keeps history tells each message's place in it (docs/recovery.md).
      return envelope.pos === undefined
        ? notification('signal.publish', { ...envelope.fields, from: envelope.from, id: envelope.ch })
        : notification('signal.publish', { ...envelope.fields, from: envelope.from, id: envelope.ch, position: envelope.pos });
    case 'send':
      // A direct message the environment keeps tells its place in the recipient's history.
      return envelope.pos === undefined
        ? notification('signal.send', { ...envelope.fields, from: envelope.from, id: envelope.ch })
        : notification('signal.send', { ...envelope.fields, from: envelope.from, id: envelope.ch, position: envelope.pos });
    case 'join':
      return notification('signal.join', nativeJoinParams(envelope));
    case 'leave':
      return notification('signal.leave', { from: envelope.from, id: envelope.ch });
  }
}

function nativeJoinParams(envelope: JoinEnvelope): Record<string, unknown> {
  const params: Record<string, unknown> = { from: envelope.from, id: envelope.ch };
  if (envelope.state !== undefined && envelope.state !== null) params.state = envelope.state;
  if (envelope.at !== undefined) params.joinedAt = envelope.at;
  return params;
}

/**
 * The Bit6 SDK reads only `from` and `id` of a join, and takes a participant's state from a
 * channel-scoped `signal.send {from, id, state}`, so a join with state becomes both frames.
 */
export function renderBit6Notification(envelope: Envelope): Rendered {
  if (envelope.t !== 'join') return renderRpcNotification(envelope);
  const join = notification('signal.join', { from: envelope.from, id: envelope.ch });
  return envelope.state === undefined || envelope.state === null ? join : [join, stateFrame(envelope.ch, envelope.from, envelope.state)];
}

/**
 * What a newcomer to a presence channel gets before its join completes: `signal.join_back`
 * for every participant already there, each followed by its current state (the same frames
 * for both dialects, as Bit6 peers would have sent them).
 */
export function renderWelcome(channel: string, participants: readonly ParticipantView[]): string[] {
  const frames: string[] = [];
  for (const p of participants) {
    frames.push(notification('signal.join_back', { from: p.address, id: channel }));
    if (p.state !== undefined) frames.push(stateFrame(channel, p.address, p.state));
  }
  return frames;
}

function stateFrame(channel: string, from: string, state: unknown): string {
  return notification('signal.send', { from, id: channel, state });
}

export function notification(method: string, params: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

export const jsonRpcSurface: Surface = {
  name: 'rpc',
  render: renderRpcNotification,
};

export const bit6Surface: Surface = {
  name: 'b6',
  render: renderBit6Notification,
};
