import { createHmac } from 'node:crypto';

/** Unix seconds at which the request was signed. */
export const TIMESTAMP_HEADER = 'signal-webhook-timestamp';
/** `v1=<hex HMAC-SHA256>` for each of the endpoint's secrets, comma-separated. */
export const SIGNATURE_HEADER = 'signal-webhook-signature';

/**
 * Signs `<timestamp>.<body>` with every secret (several while the receiver rotates: it accepts
 * the request if any one matches a secret it knows). The timestamp is inside the signed text,
 * so a receiver that refuses old timestamps (docs/webhooks.md: 5 minutes) refuses replays.
 */
export function signatures(secrets: readonly string[], timestamp: number, body: string): string {
  return secrets.map((secret) => `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`).join(',');
}
