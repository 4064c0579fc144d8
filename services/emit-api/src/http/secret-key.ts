import type { IncomingMessage } from 'node:http';
import { SignalError, type AppRegistry, type SecretKeyGrant } from '@signal/core';

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

export function requireSecretKey(req: IncomingMessage, registry: AppRegistry): SecretKeyGrant {
  const key = readSecretKey(req);
  if (key === undefined) throw new SignalError('unauthorized', 'Please provide a secret or publishable API key');
  if (key.startsWith('pubk_')) {
    throw new SignalError('forbidden', 'a publishable key cannot do this; use the secret key (seck_…) from your backend');
  }
  const grant = registry.bySecretKey(key);
  if (!grant) throw new SignalError('unauthorized', 'Invalid API key');
  return grant;
}
