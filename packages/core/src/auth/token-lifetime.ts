/** The longest a token may live by default, at mint (emit-api) and at verification (gateways): 30 days. */
export const DEFAULT_MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
