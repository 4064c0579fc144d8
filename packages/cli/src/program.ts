import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from './exit-codes.js';
import { initCommand } from './commands/init.js';
import { nodesCommand } from './commands/nodes.js';
import { keysCommand } from './commands/keys.js';
import { tailCommand } from './commands/tail.js';
import { tokenCommand } from './commands/token.js';
import { emitCommand } from './commands/emit.js';
import { occupancyCommand, presenceCommand } from './commands/channel-reads.js';
import { disconnectCommand, revokeCommand } from './commands/access.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** The `signal` program; settings made before adding commands are inherited by each of them. */
export function buildProgram(): Command {
  const program = new Command('signal')
    .description('command line for signal: apps and keys, tokens, emitting, presence, tailing a channel, gateway nodes')
    .version(version, '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError("(run with --help for the options and examples)")
    .configureOutput({ outputError: (text, write) => write(text) })
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 the server or network failed (or a file is invalid), 2 usage error,
3 not found (file, app, environment, key), 4 refused to destroy something (existing file, last key).

Environment: SIGNAL_SECRET_KEY, SIGNAL_EMIT_URL, SIGNAL_GATEWAY_URL, APPS_FILE, NATS_URL (…).
Run 'signal <command> --help' for a command's options and examples.`,
    );
  for (const command of [initCommand(), tokenCommand(), emitCommand(), presenceCommand(), occupancyCommand(), tailCommand(), revokeCommand(), disconnectCommand(), keysCommand(), nodesCommand()]) addInheriting(program, command);
  return program;
}

/** `addCommand` (unlike `.command()`) does not pass settings on; copy them down the whole tree. */
function addInheriting(parent: Command, command: Command): void {
  command.copyInheritedSettings(parent);
  const children = [...command.commands];
  for (const child of children) child.copyInheritedSettings(command);
  parent.addCommand(command);
}

/** Runs the CLI; resolves to the exit status (see exit-codes.ts). */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      process.stderr.write(`signal: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`signal: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.failure;
  }
}
