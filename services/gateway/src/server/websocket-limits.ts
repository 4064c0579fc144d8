import type { WebSocketBehavior } from 'uWebSockets.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { SessionData } from '../core/session.js';

export interface WebSocketLimits {
  readonly maxFrameBytes: number;
  /** Deepest nesting of arrays and objects a client frame may have (MAX_JSON_DEPTH). */
  readonly maxJsonDepth: number;
  readonly behavior: Pick<
    WebSocketBehavior<SessionData>,
    'maxPayloadLength' | 'idleTimeout' | 'maxBackpressure' | 'closeOnBackpressureLimit' | 'sendPingsAutomatically'
  >;
}

/**
 * Frames up to 4× the configured maximum (at least 1 MiB) reach our code, which answers with
 * a clear error and keeps the connection. Beyond that uWS drops the connection without a close
 * frame (clients see 1006): a peer sending that much is not speaking the protocol.
 */
export function websocketLimits(config: GatewayConfig): WebSocketLimits {
  return {
    maxFrameBytes: config.MAX_FRAME_BYTES,
    maxJsonDepth: config.MAX_JSON_DEPTH,
    behavior: {
      maxPayloadLength: Math.max(config.MAX_FRAME_BYTES * 4, 1024 * 1024),
      idleTimeout: config.IDLE_TIMEOUT_SECONDS,
      maxBackpressure: config.MAX_BACKPRESSURE_BYTES,
      // Typed as a number upstream, read as a boolean by the native side.
      closeOnBackpressureLimit: 1,
      sendPingsAutomatically: true,
    },
  };
}
