import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../exit-codes.js';

/** Reads a small text file the user named, with an error that says which option named it. */
export function readTextFile(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(EXIT.notFound, `${option} ${path}: no such file`);
    throw new CliError(EXIT.failure, `${option} ${path}: cannot read it (${code ?? (error as Error).message})`);
  }
}
