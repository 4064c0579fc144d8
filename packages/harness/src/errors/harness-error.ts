/**
 * Every failure the harness reports. `code` is stable so tests can branch on it;
 * the message says what to change to make the failure go away.
 */
export type HarnessErrorCode =
  | 'nats_unavailable'
  | 'nats_binary_missing'
  | 'port_in_use'
  | 'start_failed'
  | 'start_timeout'
  | 'wait_timeout'
  | 'process_exited'
  | 'fault_unsupported'
  | 'invalid_state'
  | 'invalid_argument'
  | 'cleanup_failed';

export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  readonly code: HarnessErrorCode;

  constructor(code: HarnessErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

export function isHarnessError(value: unknown, code?: HarnessErrorCode): value is HarnessError {
  return value instanceof HarnessError && (code === undefined || value.code === code);
}

/** Appends a process's recent output, because the cause of a failed start is almost always in it. */
export function withOutput(message: string, lines: readonly string[]): string {
  if (lines.length === 0) return `${message}\n(no output)`;
  return `${message}\nLast ${lines.length} line(s) of output:\n${lines.map((l) => `  | ${l}`).join('\n')}`;
}
