import { z } from 'zod';
import { decodeToken, encodeToken, type Scope } from '@signal/core';

/**
 * One revocation, as a key and a value in the revocation bucket. Keys are scoped by app and
 * environment, so a secret key can only ever write (and a gateway only ever apply) revocations of
 * its own environment:
 *
 *   <app>.<env>.jti.<jti>        one token, by its `jti`
 *   <app>.<env>.user.<identity>  every token of the user with `iat` before `before`
 *
 * `<jti>` and `<identity>` are encoded like subject tokens (`encodeToken`: injective, KV-safe).
 */
export type Revocation =
  | { readonly kind: 'jti'; readonly scope: Scope; readonly jti: string; readonly at: number }
  | { readonly kind: 'user'; readonly scope: Scope; readonly identity: string; readonly before: number; readonly at: number };

/** Longest `jti` that can be revoked by id (longer ones are revoked through their user). */
export const MAX_JTI_LENGTH = 256;

/** `subject` is the jti or the identity. */
export function revocationKey(scope: Scope, kind: Revocation['kind'], subject: string): string {
  return `${encodeToken(scope.app)}.${scope.env}.${kind}.${encodeToken(subject)}`;
}

/** `at`: when it was written (ms since epoch); `before` (user entries): seconds since epoch, may be fractional. */
const valueSchema = z.object({ at: z.number().finite(), before: z.number().finite().optional() });

export function encodeRevocationValue(revocation: Revocation): Uint8Array {
  const value = revocation.kind === 'jti' ? { at: revocation.at } : { at: revocation.at, before: revocation.before };
  return new TextEncoder().encode(JSON.stringify(value));
}

/** A watched entry back into a revocation; undefined for anything this code did not write. */
export function decodeRevocation(key: string, data: Uint8Array): Revocation | undefined {
  const parts = key.split('.');
  if (parts.length !== 4) return undefined;
  const [app, env, kind, subject] = parts as [string, string, string, string];
  const scope = { app: decodeToken(app), env } as Scope;
  if (env !== 'test' && env !== 'live') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  const value = valueSchema.safeParse(json);
  if (!value.success) return undefined;
  if (kind === 'jti') return { kind, scope, jti: decodeToken(subject), at: value.data.at };
  if (kind === 'user' && value.data.before !== undefined) return { kind, scope, identity: decodeToken(subject), before: value.data.before, at: value.data.at };
  return undefined;
}

/** Only the key of a deleted entry is known: what it named. */
export function revocationKeyParts(key: string): { scope: Scope; kind: 'jti' | 'user'; subject: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 4 || (parts[2] !== 'jti' && parts[2] !== 'user')) return undefined;
  return { scope: { app: decodeToken(parts[0]!), env: parts[1] } as Scope, kind: parts[2], subject: decodeToken(parts[3]!) };
}
