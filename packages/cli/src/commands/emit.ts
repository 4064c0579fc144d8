import { Command } from 'commander';
import { expectAnswer, signalsAnswerSchema } from '../http/answers.js';
import { callEmitApi } from '../http/emit-api.js';
import { emitApiTarget, withEmitApiOptions, type EmitApiOptions } from '../http/emit-api-options.js';
import { usageError } from '../exit-codes.js';
import { parseJsonInput } from '../input/parse-json.js';
import { readStdin } from '../input/read-stdin.js';
import { printJson, printLines } from '../output/print.js';

interface EmitOptions extends EmitApiOptions {
  channel?: string;
  user?: string;
  device?: string;
  connection?: string;
  broadcast?: boolean;
  event?: string;
  message?: string;
  json?: boolean;
}

/** The one destination named, as emit-api's `to`. */
function destination(options: EmitOptions): Record<string, unknown> {
  const named: Record<string, unknown>[] = [];
  if (options.channel !== undefined) named.push({ channel: options.channel });
  if (options.user !== undefined) named.push({ user: options.user });
  if (options.device !== undefined) named.push({ device: options.device });
  if (options.connection !== undefined) named.push({ connection: options.connection });
  if (options.broadcast === true) named.push({ broadcast: true });
  if (named.length !== 1) {
    throw usageError(`name exactly one destination: --channel, --user, --device, --connection or --broadcast (got ${named.length})`);
  }
  return named[0]!;
}

export function emitCommand(): Command {
  return withEmitApiOptions(
    new Command('emit')
      .description('send a signal to a channel, a user, a device, a connection or everyone (POST /v1/signals)')
      .option('--channel <channel>', 'every member of a channel')
      .option('--user <identity>', 'every connection of a user')
      .option('--device <identity/device>', "every connection of a user's device")
      .option('--connection <identity/device/route>', 'exactly one connection (its address)')
      .option('--broadcast', "every connection of the environment (the key needs the 'broadcast' permission)")
      .option('--event <name>', 'event name (emit-api default: signal)')
      .option('--message <json>', 'the message, any JSON (default: read from stdin)')
      .option('--json', 'print emit-api\'s answer { accepted, deliveries }'),
  )
    .addHelpText(
      'after',
      `
Delivery is at most once: emit-api answers when NATS has the message, whoever is listening.

Examples:
  $ signal emit --channel room-1 --event chat --message '{"text":"hello"}'
  $ echo '{"text":"hi"}' | signal emit --user alice
  $ signal emit --device alice/web --message '{"ring":true}'
  $ signal emit --broadcast --event maintenance --message '{"in":"5m"}'`,
    )
    .action(async (options: EmitOptions) => {
      const to = destination(options);
      const text = options.message ?? (await readStdin());
      if (text === undefined) throw usageError('no message: pass --message <json> or pipe the JSON to stdin');
      const body: Record<string, unknown> = { to, message: parseJsonInput(text, options.message === undefined ? 'stdin' : '--message') };
      if (options.event !== undefined) body.event = options.event;
      const target = emitApiTarget(options);
      const answer = expectAnswer(signalsAnswerSchema, await callEmitApi(target, 'POST', '/v1/signals', body), 'POST /v1/signals', target.url);
      if (options.json) printJson(answer);
      else printLines(`accepted ${answer.accepted} signal (${answer.deliveries} ${answer.deliveries === 1 ? 'delivery' : 'deliveries'})`);
    });
}
