import { randomBytes } from 'node:crypto';
import { generateApp, type AppsFile, type Environment } from '@signal/core';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import type { RawEnvironment } from './read-apps-file.js';
import type { KeyView } from './key-views.js';

type EnvironmentConfig = NonNullable<AppsFile['apps'][number]['environments']['test']>;

/**
 * How `keys` names the kid-less `tokenSecret`: parentheses are not allowed in a kid, so the
 * name can never be mistaken for one.
 */
export const LEGACY_TOKEN_SECRET = '(tokenSecret)';

/**
 * An environment's token secrets as listed, oldest first: `tokenSecret` (it verifies tokens
 * without `kid`), then `tokenSecrets` by kid. Only the newest signs (the last of
 * `tokenSecrets`, else `tokenSecret`); the secrets themselves are never shown.
 */
export function tokenSecretViews(app: string, env: Environment, cfg: EnvironmentConfig): KeyView[] {
  const ids = tokenSecretIds(cfg);
  return ids.map((id, i) => ({ app, env, kind: 'token-secret', id, stored: 'clear', permissions: i === ids.length - 1 ? ['sign', 'verify'] : ['verify'] }));
}

/** A new secret from the generator the services' bootstrap uses. */
export function newTokenSecret(): string {
  return generateApp('keys').environments.test!.tokenSecret!;
}

/** A fresh kid: today's date and a random suffix (`2026-11-29-3fa2c1`), sortable and unique in practice. */
export function newKid(cfg: RawEnvironment): string {
  for (;;) {
    const kid = `${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
    if (!(cfg.tokenSecrets ?? []).some((s) => s.kid === kid)) return kid;
  }
}

/**
 * Appends a token secret: being the newest, it signs every token minted from now on, and every
 * older one keeps verifying the tokens it signed. A kid already present is a usage error.
 */
export function appendTokenSecret(cfg: RawEnvironment, kid: string, secret: string): void {
  if ((cfg.tokenSecrets ?? []).some((s) => s.kid === kid)) throw usageError(`kid '${kid}' is already a token secret of this environment; pick another --kid`);
  cfg.tokenSecrets = [...(cfg.tokenSecrets ?? []), { kid, secret }];
}

/** Removes the token secret named by kid or LEGACY_TOKEN_SECRET; never the environment's last one. */
export function removeTokenSecret(cfg: RawEnvironment, ref: string, where: string): void {
  const count = tokenSecretIds(cfg).length;
  const index = ref === LEGACY_TOKEN_SECRET ? -1 : (cfg.tokenSecrets ?? []).findIndex((s) => s.kid === ref);
  const found = ref === LEGACY_TOKEN_SECRET ? cfg.tokenSecret !== undefined : index !== -1;
  if (!found) throw new CliError(EXIT.notFound, `no token secret '${ref}' in ${where}; see signal keys list --kind token-secret`);
  if (count === 1) {
    throw new CliError(EXIT.conflict, `that is the last token secret of ${where}: tokens could not be signed; add one (signal keys rotate --kind token-secret) before removing it`);
  }
  if (index === -1) delete cfg.tokenSecret;
  else cfg.tokenSecrets!.splice(index, 1);
  // An empty list is invalid in the file; tokenSecret alone is the older form, still valid.
  if (cfg.tokenSecrets?.length === 0) delete cfg.tokenSecrets;
}

/** The ids of an environment's token secrets, oldest first; the last one signs. */
export function tokenSecretIds(cfg: Pick<RawEnvironment, 'tokenSecret' | 'tokenSecrets'>): string[] {
  return [...(cfg.tokenSecret === undefined ? [] : [LEGACY_TOKEN_SECRET]), ...(cfg.tokenSecrets ?? []).map((s) => s.kid)];
}
