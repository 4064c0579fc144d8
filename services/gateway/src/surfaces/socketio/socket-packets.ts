import { jsonTextTooDeep, jsonTooDeepError } from '@signal/core';
import { ENGINE, firstCharacter } from './engine-packets.js';

/**
 * Socket.IO packets, carried in Engine.IO `message` packets: a type digit, an optional
 * namespace (`/signal,`), an optional ack id, then JSON. Protocol 4 (socket.io 2.x, over
 * Engine.IO v3) and 5 (socket.io 3.x/4.x, over Engine.IO v4) share this text form; they
 * differ in what CONNECT and its answers carry. Binary packets (types 5 and 6) are not
 * served: Stelace clients only exchange JSON.
 */
export const PACKET = {
  connect: 0,
  disconnect: 1,
  event: 2,
  ack: 3,
  /** `ERROR` in protocol 4, `CONNECT_ERROR` in protocol 5. */
  connectError: 4,
  binaryEvent: 5,
  binaryAck: 6,
} as const;

export type SocketPacket =
  | { type: typeof PACKET.connect; nsp: string; data: Record<string, unknown> | undefined }
  | { type: typeof PACKET.disconnect; nsp: string }
  | { type: typeof PACKET.event; nsp: string; id: number | undefined; data: [string, ...unknown[]] }
  | { type: typeof PACKET.ack; nsp: string; id: number; data: unknown[] };

export class SocketProtocolError extends Error {
  /** Set when a configured limit refused the packet: the variable's name in lower case, for metrics. */
  readonly limit: string | undefined;
  constructor(message: string, limit?: string) {
    super(message);
    this.limit = limit;
  }
}

const MAX_NAMESPACE_LENGTH = 256;
const MAX_ID_DIGITS = 15;

/** `maxJsonDepth` (MAX_JSON_DEPTH) is checked on the text, before the data is parsed. */
export function parseSocketPacket(text: string, maxJsonDepth: number): SocketPacket {
  const type = text.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6)) throw new SocketProtocolError(`unknown Socket.IO packet type '${firstCharacter(text)}'`);
  if (type === PACKET.binaryEvent || type === PACKET.binaryAck) {
    throw new SocketProtocolError('binary Socket.IO packets are not supported; send JSON values only');
  }
  if (type === PACKET.connectError) throw new SocketProtocolError('clients do not send Socket.IO error packets');
  let i = 1;
  let nsp = '/';
  if (text.charAt(i) === '/') {
    const comma = text.indexOf(',', i);
    const end = comma === -1 ? text.length : comma;
    // Protocol 4 clients may append a query to the namespace of a CONNECT (`/signal?x=1`).
    nsp = text.slice(i, end).split('?')[0]!;
    i = comma === -1 ? end : end + 1;
    if (nsp.length > MAX_NAMESPACE_LENGTH) throw new SocketProtocolError('Socket.IO namespace is too long');
  }
  let idEnd = i;
  while (idEnd < text.length && idEnd - i <= MAX_ID_DIGITS && isDigit(text.charCodeAt(idEnd))) idEnd++;
  if (idEnd - i > MAX_ID_DIGITS) throw new SocketProtocolError('Socket.IO ack id is too long');
  const id = idEnd > i ? Number(text.slice(i, idEnd)) : undefined;
  const json = text.slice(idEnd);
  let data: unknown;
  if (json !== '') {
    if (jsonTextTooDeep(json, maxJsonDepth)) throw new SocketProtocolError(jsonTooDeepError('Socket.IO packet data', maxJsonDepth).message, 'max_json_depth');
    try {
      data = JSON.parse(json);
    } catch {
      throw new SocketProtocolError('Socket.IO packet data is not valid JSON');
    }
  }
  switch (type) {
    case PACKET.connect:
      if (data !== undefined && !isPlainObject(data)) throw new SocketProtocolError('Socket.IO CONNECT data must be an object');
      return { type, nsp, data: data as Record<string, unknown> | undefined };
    case PACKET.disconnect:
      if (data !== undefined || id !== undefined) throw new SocketProtocolError('Socket.IO DISCONNECT carries no data');
      return { type, nsp };
    case PACKET.event:
      if (!Array.isArray(data) || typeof data[0] !== 'string') {
        throw new SocketProtocolError('Socket.IO EVENT data must be an array starting with the event name');
      }
      return { type, nsp, id, data: data as [string, ...unknown[]] };
    default:
      if (id === undefined) throw new SocketProtocolError('Socket.IO ACK needs an ack id');
      if (!Array.isArray(data)) throw new SocketProtocolError('Socket.IO ACK data must be an array');
      return { type: PACKET.ack, nsp, id, data };
  }
}

/** One whole WebSocket frame: the Engine.IO `message` type, then the Socket.IO packet. */
export function socketFrame(type: number, nsp: string, options: { id?: number; data?: unknown } = {}): string {
  let frame = ENGINE.message + String(type);
  if (nsp !== '/') frame += `${nsp},`;
  if (options.id !== undefined) frame += String(options.id);
  if (options.data !== undefined) frame += JSON.stringify(options.data);
  return frame;
}

/** An event frame, e.g. `42/signal,["warning","..."]`; with `ackId` the client is asked to answer. */
export function eventFrame(nsp: string, args: [string, ...unknown[]], ackId?: number): string {
  return socketFrame(PACKET.event, nsp, ackId === undefined ? { data: args } : { id: ackId, data: args });
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
