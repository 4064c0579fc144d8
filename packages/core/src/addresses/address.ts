import { z } from 'zod';
import { SignalError } from '../errors/signal-error.js';

/**
 * Addresses: `identity` (every connection of a user), `identity/device` (every connection of
 * a device), `identity/device/route` (exactly one connection). Parts never contain `/`;
 * identities starting with `$` are reserved for connections without a user.
 */
export type Address =
  | { readonly kind: 'user'; readonly identity: string }
  | { readonly kind: 'device'; readonly identity: string; readonly device: string }
  | { readonly kind: 'connection'; readonly identity: string; readonly device: string; readonly route: string };

export const ANONYMOUS = '$anon';
export const DEFAULT_DEVICE = 'default';

const partPattern = /^[^/\s]{1,128}$/;

/**
 * One address part: 1-128 characters without `/` or spaces, and well-formed Unicode. A lone
 * surrogate has no UTF-8 form, so subjects would encode it as U+FFFD and `vic\ud800` would
 * receive what is sent to `vic\uFFFD`; refusing it keeps names and subjects one-to-one.
 */
function isPart(text: string): boolean {
  return partPattern.test(text) && text.isWellFormed();
}

const PART_RULE = 'must be 1-128 characters without / or spaces, in well-formed Unicode (no lone surrogates)';

export const identitySchema = z
  .string()
  .refine(isPart, { error: PART_RULE })
  .refine((v) => !v.startsWith('$'), { error: 'must not start with $' });
export const deviceSchema = z.string().refine(isPart, { error: PART_RULE });

/** Route of a connection: `<node>-<n>`; the node part tells every gateway where it lives. */
export const routePattern = /^([a-z0-9]{4,32})-([a-z0-9]{1,16})$/;

export function parseAddress(text: string): Address {
  const parts = text.split('/');
  const [identity, device, route] = parts;
  const bad = (why: string) =>
    new SignalError('invalid_params', `address '${text}' ${why}; use identity, identity/device or identity/device/route`, {
      field: 'to',
    });
  if (parts.length > 3 || identity === undefined) throw bad('has too many parts');
  if (!isPart(identity)) throw bad(`has an invalid identity: it ${PART_RULE}`);
  if (device === undefined) {
    if (identity.startsWith('$')) throw bad('names a reserved identity');
    return { kind: 'user', identity };
  }
  if (!isPart(device)) throw bad(`has an invalid device: it ${PART_RULE}`);
  if (route === undefined) return { kind: 'device', identity, device };
  if (!routePattern.test(route)) throw bad('has an invalid route');
  return { kind: 'connection', identity, device, route };
}

export function formatAddress(address: Address): string {
  switch (address.kind) {
    case 'user':
      return address.identity;
    case 'device':
      return `${address.identity}/${address.device}`;
    case 'connection':
      return `${address.identity}/${address.device}/${address.route}`;
  }
}

/** Splits a token `sub` (`identity` or `identity/device`) into its parts. */
export function parseSubject(sub: string): { identity: string; device: string | undefined } {
  const parts = sub.split('/');
  const identity = identitySchema.safeParse(parts[0]);
  if (parts.length > 2 || !identity.success) {
    throw new SignalError('unauthorized', `token sub '${sub}' must be identity or identity/device; an identity ${PART_RULE}`);
  }
  if (parts.length === 2 && !deviceSchema.safeParse(parts[1]).success) {
    throw new SignalError('unauthorized', `token sub '${sub}' has an invalid device: it ${PART_RULE}`);
  }
  return { identity: identity.data, device: parts[1] };
}

export function nodeOfRoute(route: string): string | undefined {
  return routePattern.exec(route)?.[1];
}
