/**
 * Codes the gateway sends in `error.data.code` (docs/protocol.md). Kept as a copy rather than
 * imported from @signal/core so the browser build carries none of the server's dependencies.
 */
export type ServerErrorCode =
  | 'invalid_json'
  | 'bad_request'
  | 'unknown_method'
  | 'invalid_params'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'not_joined'
  | 'payload_too_large'
  | 'limit_exceeded'
  | 'unavailable'
  | 'internal';

/** Codes raised by the client itself. */
export type ClientErrorCode =
  /** The client is offline and `offline: 'reject'` is set. */
  | 'not_connected'
  /** The offline queue is full (`queueLimit`). */
  | 'queue_full'
  /** The connection dropped before the server answered; the message may or may not have been delivered. */
  | 'disconnected'
  /** The server did not answer a request within `requestTimeoutMs`. */
  | 'timeout'
  /** `close()` was called. */
  | 'closed'
  /** The token provider threw, or returned something that is not a token. */
  | 'token_provider'
  /** The token was revoked (close code 4003) and no fresh one could be had, or it was refused too: the client stopped. */
  | 'revoked'
  /** The options passed to `new Signal()` cannot work; the message says which one. */
  | 'invalid_options'
  /** The server sent a frame that does not follow the protocol. */
  | 'protocol';

export type SignalErrorCode = ServerErrorCode | ClientErrorCode;

export interface SignalClientErrorOptions {
  /** JSON-RPC error code, when the error came from the server. */
  rpcCode?: number | undefined;
  /** The input to blame, when the server named one (`data.field`). */
  field?: string | undefined;
  /** Everything the server put in `error.data`. */
  data?: Record<string, unknown> | undefined;
  cause?: unknown;
}

/** Every error the SDK surfaces: a stable `code` to branch on and a message that says what to fix. */
export class SignalClientError extends Error {
  override readonly name = 'SignalClientError';
  readonly code: SignalErrorCode;
  readonly rpcCode: number | undefined;
  readonly field: string | undefined;
  readonly data: Record<string, unknown> | undefined;
  /** For `forbidden`: the channel the refused operation was on (`data.channel`). */
  readonly channel: string | undefined;
  /** For `forbidden`: what was refused, `subscribe`, `publish`, `presence` or `send` (`data.operation`). */
  readonly operation: string | undefined;

  constructor(code: SignalErrorCode, message: string, options: SignalClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rpcCode = options.rpcCode;
    this.field = options.field;
    this.data = options.data;
    this.channel = typeof options.data?.channel === 'string' ? options.data.channel : undefined;
    this.operation = typeof options.data?.operation === 'string' ? options.data.operation : undefined;
  }
}

const SERVER_CODES = new Set<string>([
  'invalid_json',
  'bad_request',
  'unknown_method',
  'invalid_params',
  'unauthorized',
  'forbidden',
  'not_found',
  'not_joined',
  'payload_too_large',
  'limit_exceeded',
  'unavailable',
  'internal',
]);

/** A JSON-RPC error object from the server as a typed error; an unknown `data.code` becomes `internal`. */
export function fromRpcError(error: { code: number; message: string; data?: Record<string, unknown> | undefined }): SignalClientError {
  const code = typeof error.data?.code === 'string' && SERVER_CODES.has(error.data.code) ? (error.data.code as ServerErrorCode) : 'internal';
  const field = typeof error.data?.field === 'string' ? error.data.field : undefined;
  return new SignalClientError(code, error.message, { rpcCode: error.code, field, data: error.data });
}
