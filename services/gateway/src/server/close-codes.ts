/**
 * Close codes the gateway sends (docs/operations.md). Clients reconnect after either; after
 * GOING_AWAY at once (the load balancer sends them to another node), after SLOW_CONSUMER with
 * their usual backoff.
 */
export const CLOSE_GOING_AWAY = { code: 1001, reason: 'server shutting down; reconnect' } as const;
export const CLOSE_SLOW_CONSUMER = { code: 4008, reason: 'slow consumer: too many bytes queued for this connection' } as const;
/** Native-protocol connections whose token ran out without a `signal.auth` refresh (TOKEN_EXPIRY=close). */
export const CLOSE_TOKEN_EXPIRED = { code: 4001, reason: 'token expired; connect again with a new token, or refresh it with signal.auth before it expires' } as const;

/** A connection that kept exceeding its request rates after being refused with `rate_limited` (docs/limits.md). */
export const CLOSE_RATE_LIMITED = { code: 4029, reason: 'rate limit: too many requests; reconnect with backoff' } as const;

/** The connection's token was revoked (its `jti`, or every token of its user issued before a time); do not reconnect with it. */
export const CLOSE_REVOKED = { code: 4003, reason: 'token revoked; get a new token before connecting again' } as const;
/** A backend disconnected this user, device or connection (emit-api); reconnecting is allowed. */
export const CLOSE_DISCONNECTED = { code: 4004, reason: 'disconnected by the application backend' } as const;
/** The key or token secret this connection was accepted with was removed from the apps file. */
export const CLOSE_KEY_REMOVED = { code: 4005, reason: 'the key this connection used was removed; connect again with current credentials' } as const;

/** RFC 6455 caps a close reason at 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * A close reason every client accepts: whole characters only (a lone surrogate becomes invalid
 * UTF-8, which clients treat as a broken connection, 1006) and at most 123 bytes, cut at a
 * character boundary. Reasons quote client input, so neither can be assumed.
 */
export function closeReason(text: string): string {
  let reason = '';
  let bytes = 0;
  for (const char of text.toWellFormed()) {
    bytes += Buffer.byteLength(char);
    if (bytes > MAX_CLOSE_REASON_BYTES) break;
    reason += char;
  }
  return reason;
}
