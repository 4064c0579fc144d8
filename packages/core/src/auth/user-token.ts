import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { z } from 'zod';
import { deviceSchema, identitySchema, parseSubject } from '../addresses/address.js';
import { tokenKeyOf, type Apps, type IdentityProvider, type ScopeKeys, type TokenKeyRef } from '../apps/registry.js';
import { AuthError } from '../errors/signal-error.js';
import { issuePath } from '../errors/zod-issue.js';
import { verifyAsymmetric, type PublicKey } from './public-keys.js';
import { DEFAULT_MAX_TOKEN_TTL_SECONDS } from './token-lifetime.js';
import { capabilityClaim, capabilitySchema, sendRuleSchema, type Capability, type SendRule } from './capability.js';

/**
 * User tokens: HS256 JWTs signed with the environment's newest token secret, whose `kid` the
 * header names (none for the apps file's kid-less `tokenSecret`). `iss` is the environment's
 * publishable key, so a gateway finds the app and environment before it verifies; `sub` is
 * `identity` or `identity/device`; `exp` is required. An environment's identity provider may
 * sign user tokens too (RS256, ES256, EdDSA; docs/authorization.md#asymmetric-tokens).
 */

/** How a gateway checks tokens beyond their signature. */
export interface TokenRules {
  /** `exp` may be at most this far past `iat` (or past now, when `iat` is missing or in the future): MAX_TOKEN_TTL_SECONDS. */
  readonly maxTtlSeconds: number;
  /** The keys last fetched from a JWKS URL (gateways fetch them in the background); none without. */
  readonly jwksKeys?: (url: string) => readonly PublicKey[];
  /** A token named a `kid` the provider's keys do not have: the gateway may fetch its JWKS again early. */
  readonly unknownKid?: (url: string) => void;
}

export const DEFAULT_TOKEN_RULES: TokenRules = { maxTtlSeconds: DEFAULT_MAX_TOKEN_TTL_SECONDS };
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
  /** The secret that verified it, so a connection knows whether a reload of the apps file removed it. */
  readonly key: TokenKeyRef;
  /** Its `iss`: a publishable key (the environment's first when it was minted), or an identity provider's issuer. */
  readonly issuer: string;
  /** Signed by the environment's identity provider (asymmetric), not with a token secret. */
  readonly provider: boolean;
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
    .setProtectedHeader(signingHeader(scope))
    .setIssuer(scope.issuer)
    .setSubject(sub)
    .setJti(tokenId)
    .setIssuedAt(nowMs / 1000)
    .setExpirationTime(expiresAt);
  const audience = options.audience ?? scope.audience?.[0];
  if (audience !== undefined) jwt = jwt.setAudience(audience);
  return { token: await jwt.sign(scope.signingKey.secret), expiresAt, tokenId };
}

/** 128 random bits, base64url: unguessable, and short in a connect URL. */
function newTokenId(): string {
  return randomBytes(16).toString('base64url');
}

/** The header of a token signed with the environment's newest secret: its `kid`, when it has one. */
export function signingHeader(scope: ScopeKeys): { alg: 'HS256'; typ: 'JWT'; kid?: string } {
  const { kid } = scope.signingKey;
  return kid === undefined ? { alg: 'HS256', typ: 'JWT' } : { alg: 'HS256', typ: 'JWT', kid };
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

/** What every token signed with an environment's token secret (or its identity provider's key) carries, once checked. */
export interface SignedClaims {
  readonly scope: ScopeKeys;
  readonly key: TokenKeyRef;
  readonly issuer: string;
  /** Set when an identity provider's public key verified it, rather than a token secret. */
  readonly provider: IdentityProvider | undefined;
  readonly payload: JWTPayload;
  readonly identity: string;
  readonly device: string | undefined;
  readonly expiresAt: number;
}

/**
 * Verifies a token signed with an environment's token secret, or with a public key of its
 * identity provider (node:crypto `verify`), synchronously. The gateway checks
 * tokens inside uWebSockets.js's upgrade callback, and an upgrade completed later, outside it,
 * is what this uWS build gets wrong (see server/upgrade.ts in the gateway); jose verifies only
 * asynchronously (WebCrypto), so the HMAC is checked here with node:crypto while jose still
 * decodes the header and claims. The checks match jose's jwtVerify with `algorithms: ['HS256']`,
 * `requiredClaims: ['exp', 'sub']`, plus the lifetime cap and, where the environment sets one,
 * the audience (docs/authorization.md#rotation). User tokens and channel tokens both start here.
 */
export function verifySignedToken(registry: Pick<Apps, 'byPublishableKey' | 'byTokenIssuer'>, token: string, rules: TokenRules = DEFAULT_TOKEN_RULES): SignedClaims {
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
  if (header.crit !== undefined || header.b64 !== undefined) throw new TokenError('bad_signature', 'token must be a plain JWS (no crit, no b64)');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenError('bad_signature', 'token header kid must be a string');
  const [encodedHeader, encodedPayload, encodedSignature] = segments as [string, string, string];
  const signingInput = `${encodedHeader}.${encodedPayload}`;
  const signature = Buffer.from(encodedSignature, 'base64url');
  // Node's base64url decoder skips stray characters; only the canonical encoding counts.
  if (signature.toString('base64url') !== encodedSignature) throw new TokenError('bad_signature', 'token signature is invalid');
  const issuer = typeof payload.iss === 'string' ? payload.iss : undefined;
  const scope = issuer === undefined ? undefined : registry.byPublishableKey(issuer);
  let verified: { scope: ScopeKeys; key: TokenKeyRef; provider: IdentityProvider | undefined };
  if (scope) verified = { scope, key: checkSecret(scope, header, signingInput, signature), provider: undefined };
  else {
    const provider = issuer === undefined ? undefined : registry.byTokenIssuer(issuer);
    if (!provider) throw new TokenError('unknown_issuer', 'token issuer is not a known publishable key or identity provider');
    verified = { scope: provider.scope, key: checkPublicKey(provider, header, signingInput, signature, rules), provider };
  }
  const now = Math.floor(Date.now() / 1000);
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== 'number') throw new TokenError('bad_claims', `token claim ${claim} is invalid`);
  }
  if (payload.exp === undefined) throw new TokenError('bad_claims', 'token claim exp is invalid');
  if (payload.exp <= now) throw new TokenError('expired', 'token has expired; mint a new one');
  if (payload.nbf !== undefined && payload.nbf > now) throw new TokenError('bad_claims', 'token claim nbf is invalid');
  // A token without iat, or with one in the future, is judged from now: it cannot outlive the cap from the moment it is shown.
  // Whole seconds: emit-api's iat carries milliseconds, and the cap and its error speak in seconds.
  const lifetime = payload.exp - Math.floor(Math.min(payload.iat ?? now, now));
  if (lifetime > rules.maxTtlSeconds) {
    throw new TokenError(
      'bad_claims',
      `token lives ${lifetime} s (exp - iat), over the ${rules.maxTtlSeconds} s this gateway accepts (MAX_TOKEN_TTL_SECONDS); mint a shorter-lived one`,
    );
  }
  const { audience } = verified.scope;
  if (audience !== undefined && !audienceMatches(payload.aud, audience)) {
    throw new TokenError('bad_claims', `token claim aud must name one of this environment's audiences (${audience.join(', ').slice(0, 200)})`);
  }
  const subject = verified.provider ? providerSubject(verified.provider, payload) : secretSubject(payload);
  return { ...verified, issuer: issuer!, payload, identity: subject.identity, device: subject.device, expiresAt: payload.exp };
}

/** HS256 with the token secret the header's `kid` names (none: `tokenSecret`). */
function checkSecret(scope: ScopeKeys, header: ProtectedHeaderParameters, signingInput: string, signature: Buffer): TokenKeyRef {
  if (header.alg !== 'HS256') throw new TokenError('bad_signature', "token must be a plain HS256 JWT signed with the environment's token secret");
  const key = tokenKeyOf(scope, header.kid);
  if (!key) {
    throw new TokenError(
      'bad_signature',
      header.kid === undefined
        ? 'token has no kid and this environment has no tokenSecret to verify it; mint a new one'
        : `token kid '${header.kid.slice(0, 64)}' is not a token secret of this environment (removed, or never configured); mint a new one`,
    );
  }
  const expected = createHmac('sha256', key.secret).update(signingInput).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new TokenError('bad_signature', 'token signature is invalid');
  return { kid: key.kid, fingerprint: key.fingerprint };
}

/**
 * An identity provider's token: the key is found by `kid` among the apps file's keys and the
 * JWKS's, and the key's own algorithm must be the header's; the token never chooses it.
 */
function checkPublicKey(provider: IdentityProvider, header: ProtectedHeaderParameters, signingInput: string, signature: Buffer, rules: TokenRules): TokenKeyRef {
  const fetched = provider.jwksUrl === undefined ? [] : (rules.jwksKeys?.(provider.jwksUrl) ?? []);
  const kid = header.kid;
  const key = [...provider.keys, ...fetched].find((candidate) => candidate.kid === kid);
  if (!key) {
    if (provider.jwksUrl !== undefined) rules.unknownKid?.(provider.jwksUrl);
    throw new TokenError(
      'bad_signature',
      kid === undefined
        ? 'token has no kid and the identity provider has no key without one'
        : `token kid '${kid.slice(0, 64)}' is not a key of the identity provider${provider.jwksUrl === undefined ? '' : ' (its JWKS is fetched again)'}`,
    );
  }
  if (header.alg !== key.alg) throw new TokenError('bad_signature', `token alg must be ${key.alg}, the algorithm of key '${kid ?? ''}'`);
  if (!verifyAsymmetric(key, signingInput, signature)) throw new TokenError('bad_signature', 'token signature is invalid');
  return { kid, fingerprint: key.fingerprint };
}

/** Our tokens: `sub` is `identity` or `identity/device`. */
function secretSubject(payload: JWTPayload): { identity: string; device: string | undefined } {
  if (typeof payload.sub !== 'string') throw new TokenError('bad_claims', 'token claim sub is invalid');
  try {
    return parseSubject(payload.sub);
  } catch (error) {
    throw new TokenError('bad_claims', (error as Error).message);
  }
}

/** A provider's tokens: `sub` is the identity, whole; the device is in the claim the apps file names, if any. */
function providerSubject(provider: IdentityProvider, payload: JWTPayload): { identity: string; device: string | undefined } {
  const identity = identitySchema.safeParse(payload.sub);
  if (!identity.success) throw new TokenError('bad_claims', `token claim sub is invalid: it ${identity.error.issues[0]!.message}`);
  const claim = provider.claims.device;
  const raw = claim === undefined ? undefined : payload[claim];
  if (raw === undefined) return { identity: identity.data, device: undefined };
  const device = deviceSchema.safeParse(raw);
  if (!device.success) throw new TokenError('bad_claims', `token claim ${claim} (the device) is invalid: it ${device.error.issues[0]!.message}`);
  return { identity: identity.data, device: device.data };
}

/** RFC 7519: `aud` is one string or an array of them; one of them must be an accepted audience. */
function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  return named.some((value) => typeof value === 'string' && accepted.includes(value));
}

/** Verifies a user token synchronously (see verifySignedToken). */
export function verifyUserToken(registry: Pick<Apps, 'byPublishableKey' | 'byTokenIssuer'>, token: string, rules: TokenRules = DEFAULT_TOKEN_RULES): VerifiedUser {
  const { scope, key, issuer, provider, payload, identity, device, expiresAt } = verifySignedToken(registry, token, rules);
  // A channel token is signed with the same secret; it opens one channel, never a connection.
  if (payload.channel !== undefined) throw new TokenError('bad_claims', 'this is a channel token: pass it with signal.join {id, token}, not as a user token');
  const grants = grantsSchema.safeParse(payload.grants ?? {});
  if (!grants.success) throw new TokenError('bad_claims', 'token grants must be an object of booleans');
  // Bit6 tokens say which services they open; one that withholds `signal` opens nothing here.
  if (!grants.data.signal) throw new TokenError('not_granted', 'token does not grant signal access (grants.signal is false); mint one without it');
  // A provider's tokens carry them under the claim names its apps-file entry gives.
  const capabilityName = provider?.claims.capability ?? 'capability';
  const sendName = provider?.claims.send ?? 'send';
  const capability = payload[capabilityName] === undefined ? undefined : capabilitySchema.safeParse(payload[capabilityName]);
  if (capability && !capability.success) throw new TokenError('bad_claims', `token claim ${capabilityName} is invalid: ${firstIssue(capability.error)}`);
  const send = payload[sendName] === undefined ? undefined : sendRuleSchema.safeParse(payload[sendName]);
  if (send && !send.success) throw new TokenError('bad_claims', `token claim ${sendName} is invalid: ${firstIssue(send.error)}`);
  return {
    scope,
    key,
    issuer,
    provider: provider !== undefined,
    identity,
    device,
    grants: grants.data,
    expiresAt,
    capability: capability?.data,
    send: send?.data,
    tokenId: typeof payload.jti === 'string' ? payload.jti : undefined,
    // A future iat counts as now, as for the lifetime cap: it cannot slip past a user revocation.
    issuedAt: payload.iat === undefined ? undefined : Math.min(payload.iat, Date.now() / 1000),
  };
}

export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return issue.path.length === 0 ? issue.message : `'${issuePath(issue)}': ${issue.message}`;
}
