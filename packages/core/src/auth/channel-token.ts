import { SignJWT } from 'jose';
import type { Apps, ScopeKeys, TokenKeyRef } from '../apps/registry.js';
import { channelNameSchema } from '../names/names.js';
import { operationsSchema, type Operation } from './capability.js';
import { DEFAULT_TOKEN_RULES, TokenError, firstIssue, signingHeader, verifySignedToken, type TokenRules } from './user-token.js';

/**
 * Channel tokens: a backend's grant of operations on one channel to one user, for a short
 * time, passed with `signal.join {id, token}` (docs/authorization.md). Signed like user tokens
 * (HS256, the environment's token secret, `iss` its publishable key, `sub` the user) and told
 * apart by the `channel` claim, which a user token never has: neither kind is accepted as the other.
 */
export interface ChannelGrant {
  readonly channel: string;
  readonly operations: readonly Operation[];
  /** Seconds since epoch. */
  readonly expiresAt: number;
  /** The secret that verified the token: a reload of the apps file that removes it ends the connection. */
  readonly key: TokenKeyRef;
}

export interface VerifiedChannelToken extends ChannelGrant {
  readonly scope: ScopeKeys;
  readonly identity: string;
  /** When set, the grant is for that device of the user only. */
  readonly device: string | undefined;
}

export interface ChannelTokenOptions {
  identity: string;
  device?: string | undefined;
  channel: string;
  operations: readonly Operation[];
  ttlSeconds: number;
}

export const channelOperationsSchema = operationsSchema.min(1, { error: 'must grant at least one operation' });

export async function mintChannelToken(scope: ScopeKeys, options: ChannelTokenOptions): Promise<{ token: string; expiresAt: number }> {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + options.ttlSeconds;
  const sub = options.device === undefined ? options.identity : `${options.identity}/${options.device}`;
  let jwt = new SignJWT({ channel: options.channel, operations: [...new Set(options.operations)] })
    .setProtectedHeader(signingHeader(scope))
    .setIssuer(scope.issuer)
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(expiresAt);
  // An environment that checks `aud` checks it on channel tokens too.
  if (scope.audience !== undefined) jwt = jwt.setAudience(scope.audience[0]!);
  return { token: await jwt.sign(scope.signingKey.secret), expiresAt };
}

/** Verifies a channel token synchronously; its claims are checked like any input, since anyone with the secret could have signed it. */
export function verifyChannelToken(registry: Pick<Apps, 'byPublishableKey' | 'byTokenIssuer'>, token: string, rules: TokenRules = DEFAULT_TOKEN_RULES): VerifiedChannelToken {
  const { scope, key, provider, payload, identity, device, expiresAt } = verifySignedToken(registry, token, rules);
  if (provider) throw new TokenError('bad_claims', 'channel tokens are minted by emit-api (POST /v1/channel-tokens), not by the identity provider');
  if (payload.channel === undefined) throw new TokenError('bad_claims', 'this is a user token, not a channel token: mint one with POST /v1/channel-tokens');
  const channel = channelNameSchema.safeParse(payload.channel);
  if (!channel.success) throw new TokenError('bad_claims', `token claim channel is invalid: ${firstIssue(channel.error)}`);
  const operations = channelOperationsSchema.safeParse(payload.operations);
  if (!operations.success) throw new TokenError('bad_claims', `token claim operations is invalid: ${firstIssue(operations.error)}`);
  return { scope, key, identity, device, channel: channel.data, operations: [...new Set(operations.data)], expiresAt };
}
