import { generateApp, sha256Hex, type AppsFile, type Environment, type SecretKeyPermission } from '@signal/core';

type SecretKeyEntry = NonNullable<AppsFile['apps'][number]['environments']['test']>['secretKeys'][number];

/**
 * Fresh keys from the same generator the services' bootstrap uses (`generateApp`), so the CLI
 * never has a second idea of what a key looks like.
 */
export function newKeys(env: Environment): { publishableKey: string; secretKey: string } {
  const generated = generateApp('keys').environments[env]!;
  return { publishableKey: generated.publishableKeys[0]!, secretKey: generated.secretKeys[0]!.key! };
}

/** A secret key's entry: only its SHA-256 unless the key is wanted in clear. */
export function secretKeyEntry(key: string, options: { clear: boolean; permissions: readonly SecretKeyPermission[]; name?: string | undefined }): SecretKeyEntry {
  const entry: SecretKeyEntry = options.clear ? { key, permissions: [] } : { sha256: sha256Hex(key), permissions: [] };
  if (options.name !== undefined) entry.name = options.name;
  if (options.permissions.length > 0) entry.permissions = [...options.permissions];
  return entry;
}
