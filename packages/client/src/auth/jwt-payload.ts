/**
 * Reads a JWT's claims without verifying them: the client only needs to know when to fetch a
 * new token and, like Bit6, where to connect; the gateway verifies. Anything that is not a
 * readable JWT has no claims.
 */
function claims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(base64UrlDecode(payload));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `exp` in seconds since epoch. */
export function tokenExpiry(token: string): number | undefined {
  const exp = claims(token)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
}

/** `aud` (the first one when it is a list): the gateway's public URL when emit-api has GATEWAY_PUBLIC_URL. */
export function tokenAudience(token: string): string | undefined {
  const aud = claims(token)?.aud;
  const first: unknown = Array.isArray(aud) ? aud[0] : aud;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

/** `identity/device` from `sub`; a token without a device is for the device `default`, as on the gateway. */
export function tokenUser(token: string): string | undefined {
  const sub = claims(token)?.sub;
  if (typeof sub !== 'string' || sub === '') return undefined;
  return sub.includes('/') ? sub : `${sub}/default`;
}

function base64UrlDecode(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
