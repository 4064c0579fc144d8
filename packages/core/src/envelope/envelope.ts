/**
 * What travels on NATS between emit-api and gateways, and between gateways: one JSON object
 * per message. Every wire surface (native JSON-RPC, Bit6, Socket.IO) renders it into its own
 * frames, so clients of different surfaces see each other's traffic.
 *
 * `fields` is the signal's content as Bit6 frames carry it (`text`, `state`, ...). By
 * convention `event` names the event (default `signal`) and `message` holds the payload,
 * which is what the emit API and Stelace clients use.
 */
export type Fields = Record<string, unknown>;

export interface PublishEnvelope {
  readonly t: 'publish';
  readonly ch: string;
  readonly from?: string;
  readonly fields: Fields;
  /** Set when `fields.state` was stored as the sender's participant state: its presence revision. */
  readonly rev?: number;
  /**
   * The message's place in its channel's history (docs/recovery.md). Set by a gateway from the
   * history stream's headers, never taken from a NATS payload (decodeEnvelope refuses one).
   */
  readonly pos?: Position;
}

/** A stored message's stream sequence, and the epoch of the stream that holds it. */
export interface Position {
  readonly offset: number;
  readonly epoch: string;
}

export interface SendEnvelope {
  readonly t: 'send';
  /** Set when a direct message is scoped to a channel (Bit6 `signal.send {to, id}`). */
  readonly ch?: string;
  readonly from?: string;
  readonly fields: Fields;
  /** As on PublishEnvelope: its place in the recipient's direct-message history, set by a gateway only. */
  readonly pos?: Position;
}

/**
 * Presence events carry the revision of the presence-store write they announce, so every
 * gateway can put events from different publishers in order and drop ones it has already
 * seen (see docs/presence.md).
 */
export interface JoinEnvelope {
  readonly t: 'join';
  readonly ch: string;
  readonly from: string;
  readonly state?: unknown;
  readonly rev?: number;
  /** When the participant joined, ms since epoch. */
  readonly at?: number;
}

export interface LeaveEnvelope {
  readonly t: 'leave';
  readonly ch: string;
  readonly from: string;
  readonly rev?: number;
}

export type Envelope = PublishEnvelope | SendEnvelope | JoinEnvelope | LeaveEnvelope;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

/**
 * Decodes a NATS payload. Anything that is not an envelope yields undefined: a stray
 * publisher on our subjects must never crash a gateway.
 */
export function decodeEnvelope(data: Uint8Array): Envelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Record<string, unknown>;
  if (e.from !== undefined && typeof e.from !== 'string') return undefined;
  if (e.ch !== undefined && typeof e.ch !== 'string') return undefined;
  if (e.rev !== undefined && !isRevision(e.rev)) return undefined;
  if (e.at !== undefined && typeof e.at !== 'number') return undefined;
  if (e.pos !== undefined) return undefined;
  switch (e.t) {
    case 'publish':
      return typeof e.ch === 'string' && isFields(e.fields) ? (e as unknown as PublishEnvelope) : undefined;
    case 'send':
      return isFields(e.fields) ? (e as unknown as SendEnvelope) : undefined;
    case 'join':
    case 'leave':
      return typeof e.ch === 'string' && typeof e.from === 'string' ? (e as unknown as Envelope) : undefined;
    default:
      return undefined;
  }
}

function isRevision(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
