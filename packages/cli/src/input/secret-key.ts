import { usageError } from '../exit-codes.js';
import { readTextFile } from './read-text-file.js';

export interface SecretKeyOptions {
  secretKeyFile?: string;
}

/**
 * The emit-api secret key, from a file or SIGNAL_SECRET_KEY; never a flag value, which would
 * land in shell history and in every process listing.
 */
export function secretKey(options: SecretKeyOptions, env: NodeJS.ProcessEnv = process.env): string {
  const key = options.secretKeyFile !== undefined ? readTextFile(options.secretKeyFile, '--secret-key-file').trim() : env.SIGNAL_SECRET_KEY?.trim();
  if (key === undefined || key === '') {
    throw usageError(
      options.secretKeyFile !== undefined
        ? `--secret-key-file ${options.secretKeyFile} is empty; put the secret key (seck_…) in it`
        : 'no secret key: set SIGNAL_SECRET_KEY or pass --secret-key-file <path> (signal init prints one)',
    );
  }
  return key;
}
