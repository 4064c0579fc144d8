import { SignalError } from '@signal/core';
import type { Session } from './session.js';

/**
 * The one rule asked before a client starts something (join, publish, send, presence state):
 * a connection may do only what a fresh connection with its token could. A token is expired
 * from its `exp` second on, as at upgrade (`verifyUserToken`), so nothing slips through
 * between the two checks. The JSON-RPC surface (native and Bit6) asks it at the start of every
 * request; Stelace sockets start nothing after their handshake, which checks the token itself.
 * Whether the connection is also closed is the dialect's business (`SessionExpiry`,
 * TOKEN_EXPIRY); this only refuses.
 */
export function assertTokenCurrent(session: Session, nowMs = Date.now()): void {
  const { expiresAt } = session;
  if (expiresAt === undefined || nowMs < expiresAt * 1000) return;
  throw new SignalError(
    'unauthorized',
    `token expired at ${new Date(expiresAt * 1000).toISOString()}; reconnect with a new token or refresh it with signal.auth`,
  );
}
