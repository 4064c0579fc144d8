import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { parseAppsFile } from '@signal/core';
import { CliError, EXIT } from '../exit-codes.js';

/**
 * Writes an apps file (exactly the document given: the schema's defaults are not written in) the way a running service must never see it half-written: validated with
 * the services' own schema first, then written to a temporary file beside it (mode 0600: it holds
 * token secrets), flushed, and moved into place in one step. With `replace: false` the move is a
 * hard link, which fails if the file appeared meanwhile, so an existing file is never overwritten.
 */
export function writeAppsFile(path: string, file: object, options: { replace: boolean }): void {
  try {
    parseAppsFile(JSON.parse(JSON.stringify(file)) as unknown, `apps file ${path} (not written)`);
  } catch (error) {
    throw new CliError(EXIT.failure, (error as Error).message);
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.replace) renameSync(temp, path);
    else linkSync(temp, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(EXIT.conflict, `${path} exists; pass --force to replace it (its keys stop working)`);
    if (code === 'ENOENT') throw new CliError(EXIT.notFound, `cannot write ${path}: its directory ${dirname(path)} does not exist`);
    throw new CliError(EXIT.failure, `cannot write ${path}: ${code ?? (error as Error).message}`);
  } finally {
    rmSync(temp, { force: true });
  }
}
