/**
 * What the process exit status means; scripts branch on it, so the numbers are a contract
 * (README "Exit codes").
 */
export const EXIT = {
  ok: 0,
  /** The server refused or failed, or could not be reached (network, NATS). */
  failure: 1,
  /** The command line is wrong: unknown flag, bad value, malformed JSON, missing secret key. */
  usage: 2,
  /** Something named does not exist: a file, an app, an environment, a key. */
  notFound: 3,
  /** The command would destroy something that exists (an apps file without --force, the last key). */
  conflict: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line on stderr, and the status it exits with. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message);
