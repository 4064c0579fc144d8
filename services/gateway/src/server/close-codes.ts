/**
 * Close codes the gateway sends (docs/operations.md). Clients reconnect after either; after
 * GOING_AWAY at once (the load balancer sends them to another node), after SLOW_CONSUMER with
 * their usual backoff.
 */
export const CLOSE_GOING_AWAY = { code: 1001, reason: 'server shutting down; reconnect' } as const;
export const CLOSE_SLOW_CONSUMER = { code: 4008, reason: 'slow consumer: too many bytes queued for this connection' } as const;
