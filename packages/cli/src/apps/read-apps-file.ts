import { existsSync } from 'node:fs';
import { parseAppsFile, readAppsJson, type AppsFile, type Environment, type SecretKeyPermission } from '@signal/core';
import { CliError, EXIT } from '../exit-codes.js';

/** A secret key entry as written in the file (no defaults filled in). */
export interface RawSecretKey {
  key?: string;
  sha256?: string;
  name?: string;
  permissions?: SecretKeyPermission[];
}

/** A token secret with its key id, as written (`tokenSecrets`, oldest first). */
export interface RawTokenSecret {
  kid: string;
  secret: string;
}

export interface RawEnvironment {
  publishableKeys: string[];
  secretKeys: RawSecretKey[];
  tokenSecret?: string;
  tokenSecrets?: RawTokenSecret[];
  [field: string]: unknown;
}

/** The file as written: what the CLI edits and writes back, so that nothing else in it changes. */
export interface RawAppsFile {
  apps: Array<{ id: string; environments: Partial<Record<Environment, RawEnvironment>>; [field: string]: unknown }>;
  [field: string]: unknown;
}

export interface LoadedAppsFile {
  /** As the services see it (defaults filled in, maps turned into entries): for reading. */
  parsed: AppsFile;
  /** As written, with the same shape (the schema has validated it): for editing. */
  raw: RawAppsFile;
}

/** The apps file, validated as the services validate it; a missing file is "not found" (exit 3). */
export function readAppsFile(path: string): LoadedAppsFile {
  if (!existsSync(path)) throw new CliError(EXIT.notFound, `apps file ${path}: no such file; create one with 'signal init --apps-file ${path}'`);
  try {
    // One read: the file the services would see and the one edited are the same bytes.
    const raw = readAppsJson(path);
    return { parsed: parseAppsFile(raw, `apps file ${path}`), raw: raw as RawAppsFile };
  } catch (error) {
    throw new CliError(EXIT.failure, (error as Error).message);
  }
}
