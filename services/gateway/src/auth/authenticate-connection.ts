import {
  ANONYMOUS,
  AuthError,
  DEFAULT_DEVICE,
  verifyUserToken,
  type AppRegistry,
  type Grants,
  type Scope,
} from '@signal/core';

/** Who a connection is, once its credentials have been checked. */
export interface Principal {
  readonly scope: Scope;
  readonly identity: string;
  readonly device: string;
  readonly anonymous: boolean;
  readonly grants: Grants | undefined;
  /** Seconds since epoch; undefined for publishable-key connections. */
  readonly expiresAt: number | undefined;
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
export function authenticateConnection(registry: AppRegistry, credentials: Credentials): Principal {
  if (credentials.token) {
    const user = verifyUserToken(registry, credentials.token);
    if (credentials.publishableKey && registry.byPublishableKey(credentials.publishableKey) !== user.scope) {
      throw new CredentialsError('key_mismatch', 'token and publishable key belong to different apps or environments');
    }
    return {
      scope: { app: user.scope.app, env: user.scope.env },
      identity: user.identity,
      device: user.device ?? DEFAULT_DEVICE,
      anonymous: false,
      grants: user.grants,
      expiresAt: user.expiresAt,
    };
  }
  if (credentials.publishableKey) {
    const scope = registry.byPublishableKey(credentials.publishableKey);
    if (!scope) throw new CredentialsError('unknown_key', 'unknown publishable key');
    return {
      scope: { app: scope.app, env: scope.env },
      identity: ANONYMOUS,
      device: ANONYMOUS,
      anonymous: true,
      grants: undefined,
      expiresAt: undefined,
    };
  }
  throw new CredentialsError('missing_credentials', 'missing credentials: pass ?token=<user token> or ?key=<publishable key>');
}
