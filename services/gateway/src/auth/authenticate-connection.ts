import {
  ANONYMOUS,
  AuthError,
  DEFAULT_DEVICE,
  verifyUserToken,
  type Apps,
  type Scope,
  type TokenRules,
  type ScopeKeys,
  type VerifiedUser,
} from '@signal/core';
import type { TokenStamp } from '../core/session.js';
import type { Credential } from './credential.js';
import { permissionsOf, type Permissions } from './permissions.js';
import type { RevocationList } from './revocation-list.js';

/** Who a connection is, once its credentials have been checked. */
export interface Principal {
  readonly scope: Scope;
  readonly identity: string;
  readonly device: string;
  readonly anonymous: boolean;
  /** What it may do, from its token and its environment's authorization settings. */
  readonly permissions: Permissions;
  /** Seconds since epoch; undefined for publishable-key connections. */
  readonly expiresAt: number | undefined;
  /** The token's `jti` and `iat`; undefined for publishable-key connections. */
  readonly token: TokenStamp | undefined;
  /** The keys it was accepted with, checked again when the apps file is reloaded. */
  readonly credential: Credential;
}

/** Why a connection without a valid token was refused; token failures carry TokenError's reasons. */
export type CredentialsFailure = 'missing_credentials' | 'unknown_key' | 'key_mismatch';

export class CredentialsError extends AuthError {
  constructor(
    readonly reason: CredentialsFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface Credentials {
  token?: string | undefined;
  publishableKey?: string | undefined;
}

/**
 * A user token makes a full connection; a publishable key alone makes an anonymous,
 * receive-only one. Anything else is refused with a reason the client can act on.
 */
export function authenticateConnection(registry: Apps, revocations: RevocationList, credentials: Credentials, rules: TokenRules): Principal {
  if (credentials.token) {
    const user = verifyUserToken(registry, credentials.token, rules);
    revocations.assertNotRevoked(user);
    if (credentials.publishableKey && registry.byPublishableKey(credentials.publishableKey) !== user.scope) {
      throw new CredentialsError('key_mismatch', 'token and publishable key belong to different apps or environments');
    }
    return principalOf(registry, user, credentials.publishableKey);
  }
  if (credentials.publishableKey) {
    const scope = registry.byPublishableKey(credentials.publishableKey);
    if (!scope) throw new CredentialsError('unknown_key', 'unknown publishable key');
    return anonymousPrincipalOf(registry, scope, credentials.publishableKey);
  }
  throw new CredentialsError('missing_credentials', 'missing credentials: pass ?token=<user token> or ?key=<publishable key>');
}

/** The principal of a verified user token; every surface's handshake builds it here. `publishableKey`: one the client also gave. */
export function principalOf(registry: Apps, user: VerifiedUser, publishableKey?: string): Principal {
  const scope: Scope = { app: user.scope.app, env: user.scope.env };
  return {
    scope,
    identity: user.identity,
    device: user.device ?? DEFAULT_DEVICE,
    anonymous: false,
    permissions: permissionsOf(
      { anonymous: false, publishGranted: user.grants.publish, capability: user.capability, send: user.send },
      registry.authorizationOf(scope),
    ),
    expiresAt: user.expiresAt,
    token: { id: user.tokenId, issuedAt: user.issuedAt },
    credential: user.provider
      ? { publishableKeys: publishableKey === undefined ? [] : [publishableKey], tokenKey: undefined, provider: user.issuer }
      : {
          publishableKeys: publishableKey === undefined || publishableKey === user.issuer ? [user.issuer] : [user.issuer, publishableKey],
          tokenKey: user.key,
        },
  };
}

/** The principal of a connection made with a publishable key only: `publishableKey`, which belongs to `keys`. */
export function anonymousPrincipalOf(registry: Apps, keys: ScopeKeys, publishableKey: string): Principal {
  const scope: Scope = { app: keys.app, env: keys.env };
  return {
    scope,
    identity: ANONYMOUS,
    device: ANONYMOUS,
    anonymous: true,
    permissions: permissionsOf({ anonymous: true, publishGranted: false, capability: undefined, send: undefined }, registry.authorizationOf(scope)),
    expiresAt: undefined,
    token: undefined,
    credential: { publishableKeys: [publishableKey], tokenKey: undefined },
  };
}
