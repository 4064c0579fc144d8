import { Command } from 'commander';
import { disconnectAnswerSchema, expectAnswer, revocationAnswerSchema } from '../http/answers.js';
import { callEmitApi } from '../http/emit-api.js';
import { emitApiTarget, withEmitApiOptions, type EmitApiOptions } from '../http/emit-api-options.js';
import { usageError } from '../exit-codes.js';
import { printJson, printLines } from '../output/print.js';

interface RevokeOptions extends EmitApiOptions {
  jti?: string;
  user?: string;
  before?: string;
  json?: boolean;
}

interface DisconnectOptions extends EmitApiOptions {
  user?: string;
  device?: string;
  connection?: string;
  json?: boolean;
}

/** `revoke` and `disconnect`: taking access away (docs/authorization.md#revocation-and-disconnect). */
export function revokeCommand(): Command {
  return withEmitApiOptions(
    new Command('revoke')
      .description('revoke one token (--jti) or every token of a user issued before now or --before (POST /v1/revocations)')
      .option('--jti <id>', "one token, by its id (`signal token --json` prints it as jti)")
      .option('--user <identity>', 'every token of this user (every device) issued before --before')
      .option('--before <seconds>', 'with --user: seconds since the epoch, fractions allowed (default: now)')
      .option('--json', "print emit-api's answer"),
  )
    .addHelpText(
      'after',
      `
Open connections with a revoked token are closed with 4003 on every gateway; later connects
with it are refused (401, reason revoked). Entries expire with the tokens they cover.

Examples:
  $ signal revoke --jti Qm9vdGgtdG9rZW4tMTIz
  $ signal revoke --user alice
  $ signal revoke --user alice --before 1795000000`,
    )
    .action(async (options: RevokeOptions) => {
      if ((options.jti === undefined) === (options.user === undefined)) throw usageError('name exactly one of --jti or --user');
      if (options.before !== undefined && options.user === undefined) throw usageError('--before goes with --user');
      const body: Record<string, unknown> = options.jti !== undefined ? { jti: options.jti } : { user: options.user };
      if (options.before !== undefined) {
        const before = Number(options.before);
        if (!Number.isFinite(before) || before <= 0) throw usageError(`--before must be seconds since the epoch (got '${options.before}')`);
        body.before = before;
      }
      const target = emitApiTarget(options);
      const answer = expectAnswer(revocationAnswerSchema, await callEmitApi(target, 'POST', '/v1/revocations', body), 'POST /v1/revocations', target.url);
      if (options.json) return printJson(answer);
      const what = answer.revoked === 'token' ? `token ${answer.jti}` : `every token of ${answer.user} issued before ${new Date(answer.before! * 1000).toISOString()}`;
      printLines(`revoked ${what} in ${answer.env}; the entry expires at ${new Date(answer.expiresAt * 1000).toISOString()}`);
    });
}

export function disconnectCommand(): Command {
  return withEmitApiOptions(
    new Command('disconnect')
      .description('close every connection of a user, of a device, or one connection, on every gateway (POST /v1/disconnect)')
      .option('--user <identity>', 'every connection of a user')
      .option('--device <identity/device>', "every connection of a user's device")
      .option('--connection <identity/device/route>', 'exactly one connection (its address)')
      .option('--json', "print emit-api's answer"),
  )
    .addHelpText(
      'after',
      `
Connections are closed with 4004 and may reconnect at once; to keep someone out, revoke their
tokens too.

Examples:
  $ signal disconnect --user alice
  $ signal disconnect --connection alice/web/gw7-1a2b3c4`,
    )
    .action(async (options: DisconnectOptions) => {
      const named = (['user', 'device', 'connection'] as const).filter((field) => options[field] !== undefined);
      if (named.length !== 1) throw usageError(`name exactly one of --user, --device or --connection (got ${named.length})`);
      const field = named[0]!;
      const target = emitApiTarget(options);
      const answer = expectAnswer(disconnectAnswerSchema, await callEmitApi(target, 'POST', '/v1/disconnect', { [field]: options[field] }), 'POST /v1/disconnect', target.url);
      if (options.json) printJson(answer);
      else printLines(`disconnecting ${field} ${options[field]} in ${answer.env}`);
    });
}
