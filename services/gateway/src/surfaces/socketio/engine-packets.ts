/**
 * Engine.IO packets over WebSocket: one packet per text frame, a type digit followed by
 * its data. Versions 3 (socket.io-client 2.x) and 4 (socket.io-client 3.x/4.x) share the
 * framing; they differ in who pings (v3: the client, v4: the server) and the open packet.
 */
export type EngineVersion = 3 | 4;

export const ENGINE = {
  open: '0',
  close: '1',
  ping: '2',
  pong: '3',
  message: '4',
  upgrade: '5',
  noop: '6',
} as const;

export type EnginePacket =
  | { type: 'close' | 'upgrade' | 'noop' | 'pong' }
  | { type: 'ping'; data: string }
  | { type: 'message'; data: string };

export class EngineProtocolError extends Error {}

export function parseEnginePacket(frame: string): EnginePacket {
  const data = frame.slice(1);
  switch (frame.charAt(0)) {
    case ENGINE.message:
      return { type: 'message', data };
    case ENGINE.ping:
      return { type: 'ping', data };
    case ENGINE.pong:
      return { type: 'pong' };
    case ENGINE.close:
      return { type: 'close' };
    case ENGINE.upgrade:
      return { type: 'upgrade' };
    case ENGINE.noop:
      return { type: 'noop' };
    case '':
      throw new EngineProtocolError('empty Engine.IO packet');
    default:
      throw new EngineProtocolError(`unknown Engine.IO packet type '${firstCharacter(frame)}'`);
  }
}

export interface OpenOptions {
  sid: string;
  version: EngineVersion;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  maxPayload: number;
}

/** The handshake; `upgrades` is empty because the socket already is a WebSocket. */
export function openPacket(options: OpenOptions): string {
  const handshake: Record<string, unknown> = {
    sid: options.sid,
    upgrades: [],
    pingInterval: options.pingIntervalMs,
    pingTimeout: options.pingTimeoutMs,
  };
  if (options.version === 4) handshake.maxPayload = options.maxPayload;
  return ENGINE.open + JSON.stringify(handshake);
}

/**
 * Reads `EIO` and `transport` from the upgrade query. Refusals use Engine.IO's error codes
 * (0 unknown transport, 1 unknown session, 5 unsupported protocol version).
 */
export function engineVersionOf(query: URLSearchParams): { version: EngineVersion } | { error: { code: number; message: string } } {
  const transport = query.get('transport');
  if (transport !== 'websocket') {
    return {
      error: {
        code: 0,
        message: `Transport unknown: '${transport ?? ''}'; only the websocket transport is served, connect with transports: ['websocket']`,
      },
    };
  }
  if (query.get('sid') !== null) {
    return { error: { code: 1, message: 'Session ID unknown: sessions never start with polling here; connect without sid' } };
  }
  const eio = query.get('EIO');
  if (eio === '3' || eio === '4') return { version: eio === '3' ? 3 : 4 };
  return { error: { code: 5, message: `Unsupported protocol version: EIO=${eio ?? ''}; use socket.io-client 2.x (EIO=3) or 3.x/4.x (EIO=4)` } };
}

/** The first whole character, for messages that quote a bad packet type (charAt can split a pair). */
export function firstCharacter(text: string): string {
  const code = text.codePointAt(0);
  return code === undefined ? '' : String.fromCodePoint(code);
}
