/**
 * One error type for everything a user can see. `code` is stable and documented;
 * `status` is the HTTP status the emit API answers with; `field` names the input to fix.
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_json'
  | 'unknown_method'
  | 'method_not_allowed'
  | 'invalid_params'
  | 'payload_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'limit_exceeded'
  | 'rate_limited'
  | 'not_joined'
  | 'config_invalid'
  | 'unavailable'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_json: 400,
  unknown_method: 400,
  /** An HTTP method the path does not serve; the answer's `Allow` header lists those it does. */
  method_not_allowed: 405,
  invalid_params: 400,
  payload_too_large: 413,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  limit_exceeded: 429,
  rate_limited: 429,
  not_joined: 409,
  config_invalid: 500,
  unavailable: 503,
  internal: 500,
};

export interface SignalErrorOptions {
  field?: string;
  data?: unknown;
  cause?: unknown;
}

export class SignalError extends Error {
  override readonly name: string = 'SignalError';
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly data: unknown;

  constructor(code: ErrorCode, message: string, options: SignalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.data = options.data;
  }

  get status(): number {
    return STATUS[this.code];
  }

  /**
   * The one way to turn anything caught into what a user may see: a SignalError passes through,
   * anything else becomes `internal` with a fixed message (its text may hold internals), kept as
   * `cause` for the logs.
   */
  static from(error: unknown): SignalError {
    return error instanceof SignalError ? error : new SignalError('internal', 'internal error', { cause: error });
  }
}

/** A configuration the process cannot start with; the message names the variable or field. */
export class ConfigError extends SignalError {
  override readonly name = 'ConfigError';
  constructor(message: string, options: SignalErrorOptions = {}) {
    super('config_invalid', message, options);
  }
}

export class AuthError extends SignalError {
  override readonly name = 'AuthError';
  constructor(message: string, options: SignalErrorOptions = {}) {
    super('unauthorized', message, options);
  }
}

export function isSignalError(value: unknown): value is SignalError {
  return value instanceof SignalError;
}
