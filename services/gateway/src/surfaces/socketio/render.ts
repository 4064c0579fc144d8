import { STELACE_RESERVED_EVENTS, type Envelope, type Scope } from '@signal/core';
import type { Surface } from '../../core/surface.js';
import { eventFrame } from './socket-packets.js';

export const STELACE_NAMESPACE = '/signal';

/**
 * How a signal looks to a Stelace socket: the event named by its `event` field (default
 * `signal`) with the payload `{ message, event, env }`.
 *
 * - `message` is the signal's `message` when it carries nothing but `event` and `message`
 *   (every emit API signal); otherwise it is all of the signal's content except `event`, so
 *   a Bit6-style `{ text: 'hi' }` arrives as `message: { text: 'hi' }`.
 * - Signals a client published or sent also carry `from` (its address) and, from a
 *   channel, `channel`.
 * - Signals whose `event` is not a string, or is a name Socket.IO clients or the handshake
 *   reserve (`connect`, `disconnect`, …), are not delivered: the client would take them for
 *   its own lifecycle events. Presence events (join, leave) are not shown either.
 */
export function renderStelaceEvent(envelope: Envelope, scope: Scope): string | undefined {
  if (envelope.t !== 'publish' && envelope.t !== 'send') return undefined;
  const { event: rawEvent, ...content } = envelope.fields;
  if (rawEvent !== undefined && typeof rawEvent !== 'string') return undefined;
  const event = rawEvent ?? 'signal';
  if (STELACE_RESERVED_EVENTS.has(event)) return undefined;
  const keys = Object.keys(content);
  const onlyMessage = keys.length === 0 || (keys.length === 1 && keys[0] === 'message');
  const payload: Record<string, unknown> = { message: onlyMessage ? content.message : content, event, env: scope.env };
  if (envelope.from !== undefined) {
    payload.from = envelope.from;
    if (envelope.ch !== undefined) payload.channel = envelope.ch;
  }
  return eventFrame(STELACE_NAMESPACE, [event, payload]);
}

/**
 * One frame per message for every Stelace socket subscribed to its subject, whatever its
 * Engine.IO version. By default only backend signals are shown: the emit API's envelopes are
 * the only ones without `from` (the gateway stamps every client's publish and send with its
 * address), and a Stelace app cannot tell a user's message from its backend's. An environment
 * opts in to client messages with `stelace.clientMessages` in the apps file.
 */
export function createStelaceSurface(deliversClientMessages: (scope: Scope) => boolean): Surface {
  return {
    name: 'sio',
    render: (envelope, scope) =>
      envelope.from === undefined || deliversClientMessages(scope) ? renderStelaceEvent(envelope, scope) : undefined,
  };
}
