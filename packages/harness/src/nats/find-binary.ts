import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { HarnessError } from '../errors/harness-error.js';

const WELL_KNOWN = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'];

/** NATS_SERVER_BIN, then PATH, then the usual install locations; undefined when none exists. */
export async function findNatsBinary(): Promise<string | undefined> {
  const fromEnv = process.env['NATS_SERVER_BIN'];
  if (fromEnv) {
    if (await isExecutableFile(fromEnv)) return fromEnv;
    // Falling back silently would run a different server than the one asked for.
    throw new HarnessError(
      'nats_binary_missing',
      `NATS_SERVER_BIN is set to "${fromEnv}", which is not an executable file; point it at a nats-server binary or unset it`,
    );
  }
  const onPath = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nats-server'));
  for (const candidate of [...onPath, ...WELL_KNOWN]) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
