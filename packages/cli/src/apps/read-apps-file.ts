import { existsSync } from 'node:fs';
import { loadAppsFile, type AppsFile } from '@signal/core';
import { CliError, EXIT } from '../exit-codes.js';

/** The apps file, validated as the services validate it; a missing file is "not found" (exit 3). */
export function readAppsFile(path: string): AppsFile {
  if (!existsSync(path)) throw new CliError(EXIT.notFound, `apps file ${path}: no such file; create one with 'signal init --apps-file ${path}'`);
  try {
    return loadAppsFile(path);
  } catch (error) {
    throw new CliError(EXIT.failure, (error as Error).message);
  }
}
