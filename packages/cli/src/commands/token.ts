import { Command } from 'commander';
import { expectAnswer, mintedTokenSchema, type MintedToken } from '../http/answers.js';
import { callEmitApi, type EmitApiTarget } from '../http/emit-api.js';
import { emitApiTarget, withEmitApiOptions, type EmitApiOptions } from '../http/emit-api-options.js';
import { intArg } from '../input/int-arg.js';
import { parseJsonInput } from '../input/parse-json.js';
import { printJson, printLines } from '../output/print.js';

interface TokenOptions extends EmitApiOptions {
  identity: string;
  device?: string;
  ttl?: number;
  capability?: string;
  send?: string;
  json?: boolean;
}

/** The body of POST /v1/tokens from the options; emit-api checks every field. */
export function tokenRequest(options: Pick<TokenOptions, 'identity' | 'device' | 'ttl' | 'capability' | 'send'>): Record<string, unknown> {
  const body: Record<string, unknown> = { identity: options.identity };
  if (options.device !== undefined) body.device = options.device;
  if (options.ttl !== undefined) body.ttl = options.ttl;
  if (options.capability !== undefined) body.capability = parseJsonInput(options.capability, '--capability');
  if (options.send !== undefined) body.send = options.send === 'any' || options.send === 'none' ? options.send : options.send.split(',').map((p) => p.trim());
  return body;
}

export async function mintToken(target: EmitApiTarget, body: Record<string, unknown>): Promise<MintedToken> {
  return expectAnswer(mintedTokenSchema, await callEmitApi(target, 'POST', '/v1/tokens', body), 'POST /v1/tokens', target.url);
}

export function tokenCommand(): Command {
  return withEmitApiOptions(
    new Command('token')
      .description('mint a user token (POST /v1/tokens); prints the token')
      .requiredOption('--identity <identity>', 'the user the token is for')
      .option('--device <device>', 'the device (default: the gateway names one)')
      .option('--ttl <seconds>', 'lifetime in seconds (emit-api default 3600, at most MAX_TOKEN_TTL_SECONDS)', intArg(10, 31_536_000))
      .option('--capability <json>', 'channel patterns to operations, e.g. \'{"room-*":["subscribe","publish","presence"]}\'')
      .option('--send <rule>', "whom it may send direct messages to: any, none, or comma-separated identity patterns")
      .option('--json', 'print { token, sub, expiresAt, env, jti } (expiresAt in seconds since the epoch; jti is what revokes this token)'),
  )
    .addHelpText(
      'after',
      `
The secret key comes from SIGNAL_SECRET_KEY or --secret-key-file, never from a flag.

Examples:
  $ export SIGNAL_SECRET_KEY=seck_test_…
  $ signal token --identity alice --device web
  $ signal token --identity bob --ttl 600 --capability '{"room-*":["subscribe","publish"]}' --send none
  $ TOKEN=$(signal token --identity alice)`,
    )
    .action(async (options: TokenOptions) => {
      const minted = await mintToken(emitApiTarget(options), tokenRequest(options));
      if (options.json) printJson(minted);
      else printLines(minted.token);
    });
}
