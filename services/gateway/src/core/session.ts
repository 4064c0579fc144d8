import type { Scope } from '@signal/core';
import type { WebSocket } from 'uWebSockets.js';
import type { Credential } from '../auth/credential.js';
import type { Permissions } from '../auth/permissions.js';
import type { RequestQuota } from '../limits/request-limits.js';
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
  /** What it may do (auth/permissions.ts); a token refreshed with `signal.auth` replaces it. */
  permissions: Permissions;
  /** The user token's `exp` (seconds since epoch), moved on by `signal.auth`; undefined without a token. */
  expiresAt: number | undefined;
  /** The keys it was accepted with (replaced by `signal.auth`); a reload of the apps file that removes one closes it with 4005. */
  credential: Credential;
  readonly surface: Surface;
  readonly channels: Set<string>;
  /** The client's address (behind trusted proxies, from X-Forwarded-For), for limits and logs. */
  readonly ip: string;
  /** This connection's request rates (docs/limits.md). */
  readonly quota: RequestQuota;
  /** Set by the server once the socket is open; cleared when it closes. Each surface keeps its own user data on it. */
  ws: WebSocket<unknown> | undefined;
}

export interface SessionData {
  session: Session;
}
