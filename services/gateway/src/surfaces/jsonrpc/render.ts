import type { Envelope, JoinEnvelope } from '@signal/core';
import type { ParticipantView } from '@signal/presence';
import type { Rendered, Surface } from '../../core/surface.js';
import type { RpcId } from './frames.js';

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
 * What is rendered of a participant for newcomers, kept for as long as the channel view hands
 * out the same (never mutated) object for it, i.e. until its state changes (ChannelView):
 * in a channel of N, every join would otherwise render the N others again.
 */
interface RenderedParticipant {
  channel: string;
  welcome: string[] | undefined;
  json: string | undefined;
}
const rendered = new WeakMap<ParticipantView, RenderedParticipant>();

function renderedOf(channel: string, p: ParticipantView): RenderedParticipant {
  let r = rendered.get(p);
  // A view belongs to one channel; the check only guards against a future caller mixing them.
  if (r === undefined || r.channel !== channel) {
    r = { channel, welcome: undefined, json: undefined };
    rendered.set(p, r);
  }
  return r;
}

/**
 * What a newcomer to a presence channel gets before its join completes: `signal.join_back`
 * for every participant already there, each followed by its current state (the same frames
 * for both dialects, as Bit6 peers would have sent them).
 */
export function renderWelcome(channel: string, participants: readonly ParticipantView[]): string[] {
  const frames: string[] = [];
  for (const p of participants) {
    const r = renderedOf(channel, p);
    r.welcome ??= p.state === undefined
      ? [notification('signal.join_back', { from: p.address, id: channel })]
      : [notification('signal.join_back', { from: p.address, id: channel }), stateFrame(channel, p.address, p.state)];
    for (const frame of r.welcome) frames.push(frame);
  }
  return frames;
}

/**
 * The answer to a presence join, byte for byte what `rpcResult(id, result)` gives, with each
 * participant's JSON rendered once (see RenderedParticipant) instead of once per newcomer.
 */
export function renderJoinResult(id: RpcId, result: { id: string; participants: readonly ParticipantView[] } & Record<string, unknown>): string {
  const { id: channel, participants, ...rest } = result;
  let list = '';
  for (const p of participants) {
    const r = renderedOf(channel, p);
    r.json ??= JSON.stringify(p);
    list += list.length === 0 ? r.json : `,${r.json}`;
  }
  const tail = JSON.stringify(rest);
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"id":${JSON.stringify(channel)},"participants":[${list}]${tail === '{}' ? '}' : `,${tail.slice(1)}`}}`;
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
