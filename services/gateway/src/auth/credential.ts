import { tokenKeyOf, type Apps, type TokenKeyRef } from '@signal/core';
import type { Session } from '../core/session.js';

/**
 * What a connection was accepted with, remembered so that a reloaded apps file can tell
 * whether it still stands (docs/authorization.md#reloading-the-apps-file).
 */
export interface Credential {
  /** Publishable keys it relies on: `?key=`, the Stelace handshake's key, its user token's `iss`. */
  readonly publishableKeys: readonly string[];
  /** The token secret that verified its user token; undefined for a publishable-key connection or a provider's token. */
  readonly tokenKey: TokenKeyRef | undefined;
  /** The identity provider (its issuer) whose token it was accepted with. */
  readonly provider?: string | undefined;
}

/**
 * Why a connection no longer stands under the apps file now in force, or undefined when it
 * does: one of its publishable keys was removed (or moved to another environment), or the
 * token secret that verified its user token, or an unexpired channel grant's, was removed or
 * changed, or the identity provider whose token it used. The reason names the key id, never a key.
 */
export function removedCredential(apps: Pick<Apps, 'byPublishableKey' | 'byTokenIssuer'>, session: Pick<Session, 'scope' | 'credential' | 'permissions'>, nowMs = Date.now()): string | undefined {
  const { scope, credential } = session;
  if (credential.provider !== undefined) {
    // The provider rolls its own keys (JWKS); only removing it from the environment ends its tokens' connections.
    const provider = apps.byTokenIssuer(credential.provider);
    if (!provider || provider.scope.app !== scope.app || provider.scope.env !== scope.env) return 'its identity provider was removed from the apps file';
  }
  let keys;
  for (const key of credential.publishableKeys) {
    keys = apps.byPublishableKey(key);
    if (!keys || keys.app !== scope.app || keys.env !== scope.env) return `its publishable key (${key.slice(0, 10)}…) was removed from the apps file`;
  }
  keys ??= credential.provider === undefined ? undefined : apps.byTokenIssuer(credential.provider)?.scope;
  if (!keys) return undefined;
  const verifies = (ref: TokenKeyRef) => tokenKeyOf(keys, ref.kid)?.fingerprint === ref.fingerprint;
  const name = (ref: TokenKeyRef) => (ref.kid === undefined ? 'tokenSecret' : `token secret kid '${ref.kid}'`);
  if (credential.tokenKey && !verifies(credential.tokenKey)) return `the ${name(credential.tokenKey)} that verified its user token was removed or changed`;
  for (const grant of session.permissions.channelGrants.values()) {
    if (grant.expiresAt * 1000 > nowMs && !verifies(grant.key)) {
      return `the ${name(grant.key)} that verified its channel token for '${grant.channel.slice(0, 40)}' was removed or changed`;
    }
  }
  return undefined;
}
