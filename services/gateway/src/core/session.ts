import type { Scope } from '@signal/core';
import type { WebSocket } from 'uWebSockets.js';
import type { Surface } from './surface.js';

/**
 * One connected client, whatever protocol it speaks. Surfaces create sessions at upgrade
 * and hand them to the hub; everything after that is shared.
 */
export interface Session {
  readonly route: string;
  readonly scope: Scope;
  /** `identity/device/route`; anonymous connections use the reserved identity `$anon`. */
  readonly address: string;
  readonly identity: string;
  readonly device: string;
  readonly anonymous: boolean;
  readonly canPublish: boolean;
  readonly surface: Surface;
  readonly channels: Set<string>;
  /** Set by the server once the socket is open; cleared when it closes. Each surface keeps its own user data on it. */
  ws: WebSocket<unknown> | undefined;
}

export interface SessionData {
  session: Session;
}
