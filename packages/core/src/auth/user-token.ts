import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { z } from 'zod';
import { parseSubject } from '../addresses/address.js';
import type { AppRegistry, ScopeKeys } from '../apps/registry.js';
import { AuthError } from '../errors/signal-error.js';
import { issuePath } from '../errors/zod-issue.js';
import { capabilityClaim, capabilitySchema, sendRuleSchema, type Capability, type SendRule } from './capability.js';

/**
 * User tokens: HS256 JWTs signed with the environment's token secret. `iss` is the
 * environment's publishable key, so a gateway finds the app and environment before it
 * verifies; `sub` is `identity` or `identity/device`; `exp` is required.
 */
export const grantsSchema = z
  .object({
    signal: z.boolean().default(true),
    /** May send and publish; false makes a receive-only user connection. */
    publish: z.boolean().default(true),
  })
  .loose();
export type Grants = z.infer<typeof grantsSchema>;

export interface VerifiedUser {
  readonly scope: ScopeKeys;
  readonly identity: string;
  readonly device: string | undefined;
  readonly grants: Grants;
  readonly expiresAt: number;
  /** The `capability` claim; undefined when the token has none (the environment's policy decides). */
  readonly capability: Capability | undefined;
  /** The `send` claim; undefined when the token has none. */
  readonly send: SendRule | undefined;
  /** The `jti` claim, what revokes this one token; undefined when the token has none. */
  readonly tokenId: string | undefined;
  /** The `iat` claim in seconds (ms precision for tokens emit-api mints); undefined when absent. */
  readonly issuedAt: number | undefined;
}

export interface MintOptions {
  identity: string;
  device?: string | undefined;
  ttlSeconds: number;
  grants?: Record<string, unknown> | undefined;
  audience?: string | undefined;
  capability?: Capability | undefined;
  send?: SendRule | undefined;
}

/**
 * Every minted token carries a unique `jti` (revoking one token names it) and an `iat` with
 * millisecond precision (a NumericDate may be fractional, RFC 7519 §2): revoking "every token
 * of a user issued before now" must not take a token minted in the same second just after it.
 */
export async function mintUserToken(scope: ScopeKeys, options: MintOptions): Promise<{ token: string; expiresAt: number; tokenId: string }> {
  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  const expiresAt = now + options.ttlSeconds;
  const sub = options.device === undefined ? options.identity : `${options.identity}/${options.device}`;
  const tokenId = newTokenId();
  const claims: JWTPayload = { grants: options.grants ?? { signal: true } };
  if (options.capability !== undefined) claims.capability = capabilityClaim(options.capability);
  if (options.send !== undefined) claims.send = options.send;
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(scope.issuer)
    .setSubject(sub)
    .setJti(tokenId)
    .setIssuedAt(nowMs / 1000)
    .setExpirationTime(expiresAt);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  return { token: await jwt.sign(scope.tokenSecret), expiresAt, tokenId };
}

/** 128 random bits, base64url: unguessable, and short in a connect URL. */
function newTokenId(): string {
  return randomBytes(16).toString('base64url');
}

/** Reasons a token is refused; stable strings clients may show. */
export type TokenFailure = 'malformed' | 'unknown_issuer' | 'bad_signature' | 'expired' | 'bad_claims' | 'not_granted' | 'revoked';

export class TokenError extends AuthError {
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** What every token signed with an environment's token secret carries, once checked. */
export interface SignedClaims {
  readonly scope: ScopeKeys;
  readonly payload: JWTPayload;
  readonly identity: string;
  readonly device: string | undefined;
  readonly expiresAt: number;
}

/**
 * Verifies a token signed with an environment's token secret, synchronously. The gateway checks
 * tokens inside uWebSockets.js's upgrade callback, and an upgrade completed later, outside it,
 * is what this uWS build gets wrong (see server/upgrade.ts in the gateway); jose verifies only
 * asynchronously (WebCrypto), so the HMAC is checked here with node:crypto while jose still
 * decodes the header and claims. The checks match jose's jwtVerify with `algorithms: ['HS256']`,
 * `requiredClaims: ['exp', 'sub']`. User tokens and channel tokens both start here.
 */
export function verifySignedToken(registry: AppRegistry, token: string): SignedClaims {
  const segments = token.split('.');
  let header: ProtectedHeaderParameters;
  let payload: JWTPayload;
  try {
    if (segments.length !== 3) throw new TypeError('not three segments');
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    throw new TokenError('malformed', 'token is not a JWT');
  }
  const scope = typeof payload.iss === 'string' ? registry.byPublishableKey(payload.iss) : undefined;
  if (!scope) throw new TokenError('unknown_issuer', 'token issuer is not a known publishable key');
  if (header.alg !== 'HS256' || header.crit !== undefined || header.b64 !== undefined) {
    throw new TokenError('bad_signature', 'token must be a plain HS256 JWT signed with the environment\'s token secret');
  }
  const [encodedHeader, encodedPayload, encodedSignature] = segments as [string, string, string];
  const signature = Buffer.from(encodedSignature, 'base64url');
  const expected = createHmac('sha256', scope.tokenSecret).update(`${encodedHeader}.${encodedPayload}`).digest();
  // Node's base64url decoder skips stray characters; only the canonical encoding counts.
  const canonical = signature.toString('base64url') === encodedSignature;
  if (!canonical || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    throw new TokenError('bad_signature', 'token signature is invalid');
  }
  const now = Math.floor(Date.now() / 1000);
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== 'number') throw new TokenError('bad_claims', `token claim ${claim} is invalid`);
  }
  if (payload.exp === undefined) throw new TokenError('bad_claims', 'token claim exp is invalid');
  if (payload.exp <= now) throw new TokenError('expired', 'token has expired; mint a new one');
  if (payload.nbf !== undefined && payload.nbf > now) throw new TokenError('bad_claims', 'token claim nbf is invalid');
  if (typeof payload.sub !== 'string') throw new TokenError('bad_claims', 'token claim sub is invalid');
  let subject;
  try {
    subject = parseSubject(payload.sub);
  } catch (error) {
    throw new TokenError('bad_claims', (error as Error).message);
  }
  return { scope, payload, identity: subject.identity, device: subject.device, expiresAt: payload.exp };
}

/** Verifies a user token synchronously (see verifySignedToken). */
export function verifyUserToken(registry: AppRegistry, token: string): VerifiedUser {
  const { scope, payload, identity, device, expiresAt } = verifySignedToken(registry, token);
  // A channel token is signed with the same secret; it opens one channel, never a connection.
  if (payload.channel !== undefined) throw new TokenError('bad_claims', 'this is a channel token: pass it with signal.join {id, token}, not as a user token');
  const grants = grantsSchema.safeParse(payload.grants ?? {});
  if (!grants.success) throw new TokenError('bad_claims', 'token grants must be an object of booleans');
  // Bit6 tokens say which services they open; one that withholds `signal` opens nothing here.
  if (!grants.data.signal) throw new TokenError('not_granted', 'token does not grant signal access (grants.signal is false); mint one without it');
  const capability = payload.capability === undefined ? undefined : capabilitySchema.safeParse(payload.capability);
  if (capability && !capability.success) throw new TokenError('bad_claims', `token claim capability is invalid: ${firstIssue(capability.error)}`);
  const send = payload.send === undefined ? undefined : sendRuleSchema.safeParse(payload.send);
  if (send && !send.success) throw new TokenError('bad_claims', `token claim send is invalid: ${firstIssue(send.error)}`);
  return {
    scope,
    identity,
    device,
    grants: grants.data,
    expiresAt,
    capability: capability?.data,
    send: send?.data,
    tokenId: typeof payload.jti === 'string' ? payload.jti : undefined,
    issuedAt: payload.iat,
  };
}

export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return issue.path.length === 0 ? issue.message : `'${issuePath(issue)}': ${issue.message}`;
}
