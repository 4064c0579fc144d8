import { Option, type Command } from 'commander';
import { secretKey } from '../input/secret-key.js';
import { DEFAULT_EMIT_URL, type EmitApiTarget } from './emit-api.js';

export interface EmitApiOptions {
  url: string;
  secretKeyFile?: string;
}

/** The options of every command that talks to emit-api. */
export function withEmitApiOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'emit-api base URL').env('SIGNAL_EMIT_URL').default(DEFAULT_EMIT_URL))
    .addOption(new Option('--secret-key-file <path>', 'file holding the secret key (default: SIGNAL_SECRET_KEY)'));
}

export function emitApiTarget(options: EmitApiOptions): EmitApiTarget {
  return { url: options.url, secretKey: secretKey(options) };
}
