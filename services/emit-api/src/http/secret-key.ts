import type { IncomingMessage } from 'node:http';
import { SignalError, type Apps, type SecretKeyGrant } from '@signal/core';
import type { KeyRateLimit } from './key-rate-limit.js';

/** The secret key from HTTP Basic (key as user, empty password, as Stelace did) or a Bearer header. */
export function readSecretKey(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const [scheme, value] = header.split(/\s+/, 2);
  if (!value) return undefined;
  if (/^bearer$/i.test(scheme!)) return value;
  if (/^basic$/i.test(scheme!)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? decoded : decoded.slice(0, colon);
  }
  return undefined;
}

/** What every route with a secret key asks: who is calling, and may they call now. */
export interface SecretKeys {
  readonly registry: Apps;
  readonly rateLimit: KeyRateLimit;
}

/**
 * The grant of the request's secret key, after taking one request from that key's rate limit;
 * requests without a valid key are refused before they count against anyone's.
 */
export function requireSecretKey(req: IncomingMessage, keys: SecretKeys): SecretKeyGrant {
  const { registry } = keys;
  const key = readSecretKey(req);
  if (key === undefined) throw new SignalError('unauthorized', 'Please provide a secret or publishable API key');
  if (key.startsWith('pubk_')) {
    throw new SignalError('forbidden', 'a publishable key cannot do this; use the secret key (seck_…) from your backend');
  }
  const grant = registry.bySecretKey(key);
  if (!grant) throw new SignalError('unauthorized', 'Invalid API key');
  keys.rateLimit.take(grant);
  return grant;
}
