import { sha256Hex, type AppsFile, type Environment } from '@signal/core';
import type { RawSecretKey } from './read-apps-file.js';
import { tokenSecretViews } from './token-secrets.js';

export const KEY_KINDS = ['publishable', 'secret', 'token-secret'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

type EnvironmentConfig = NonNullable<AppsFile['apps'][number]['environments']['test']>;

/** Hex digits of a secret key's SHA-256 shown as its id: enough to tell keys apart, useless to an attacker. */
const ID_DIGITS = 12;

/**
 * A key as listed. Publishable keys are public and shown whole; a secret key is shown only by
 * an id (the start of its SHA-256), whether the file stores it in clear or hashed; a token
 * secret only by its kid, with `permissions` saying whether it signs or only verifies.
 */
export interface KeyView {
  app: string;
  env: Environment;
  kind: KeyKind;
  id: string;
  stored?: 'sha256' | 'clear';
  name?: string;
  permissions?: string[];
}

export function secretKeyHash(entry: RawSecretKey): string {
  return entry.sha256 ?? sha256Hex(entry.key!);
}

export function keyViews(app: AppsFile['apps'][number], env: Environment, cfg: EnvironmentConfig): KeyView[] {
  const publishable = cfg.publishableKeys.map((key): KeyView => ({ app: app.id, env, kind: 'publishable', id: key }));
  const secret = cfg.secretKeys.map((entry): KeyView => {
    const view: KeyView = { app: app.id, env, kind: 'secret', id: secretKeyHash(entry).slice(0, ID_DIGITS), stored: entry.sha256 ? 'sha256' : 'clear' };
    if (entry.name !== undefined) view.name = entry.name;
    view.permissions = [...entry.permissions];
    return view;
  });
  return [...publishable, ...secret, ...tokenSecretViews(app.id, env, cfg)];
}

/**
 * Indexes of the secret keys a reference names: the key itself, its name, or a prefix (at least
 * 8 hex digits) of its SHA-256, as `keys list` shows it.
 */
export function matchingSecretKeys(secretKeys: RawSecretKey[], ref: string): number[] {
  const hash = ref.startsWith('seck_') ? sha256Hex(ref) : undefined;
  const prefix = /^[a-f0-9]{8,64}$/.test(ref) ? ref : undefined;
  return secretKeys.flatMap((entry, i) => {
    const h = secretKeyHash(entry);
    return h === hash || entry.name === ref || (prefix !== undefined && h.startsWith(prefix)) ? [i] : [];
  });
}
