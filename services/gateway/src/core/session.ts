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
  /** The user token's `jti` and `iat`, what revocations match (auth/revocation-list.ts); moved on by `signal.auth`. */
  token: TokenStamp | undefined;
  /** Ends the connection with a close code the way its surface does (Stelace: `willDisconnect` first). */
  readonly closeWith: (close: CloseCode) => void;
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

/** What of a user token a revocation can name. */
export interface TokenStamp {
  readonly id: string | undefined;
  /** Seconds since epoch (fractional for tokens emit-api mints); undefined when the token has no `iat`. */
  readonly issuedAt: number | undefined;
}

export interface CloseCode {
  readonly code: number;
  readonly reason: string;
}

export interface SessionData {
  session: Session;
}
