import { CliError, EXIT } from '../exit-codes.js';

export const DEFAULT_EMIT_URL = 'http://127.0.0.1:8081';

export interface EmitApiTarget {
  url: string;
  secretKey: string;
}

/** What emit-api says when it refuses: `{ message, statusCode, code, field? }`. */
interface ErrorBody {
  message?: unknown;
  code?: unknown;
  field?: unknown;
}

const HINTS: Record<number, string> = {
  401: 'check the secret key (SIGNAL_SECRET_KEY or --secret-key-file) and that it belongs to the apps file emit-api runs with',
  403: 'this secret key lacks a permission the request needs (see the apps file)',
};

/**
 * One request to emit-api with the secret key as Bearer; the parsed JSON answer, or a CliError
 * (exit 1) that shows the server's status, `code` and `message`, and what to check.
 */
export async function callEmitApi(target: EmitApiTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const url = `${target.url.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${target.secretKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new CliError(EXIT.failure, `cannot reach emit-api at ${target.url} (${why}); is it running? set --url or SIGNAL_EMIT_URL`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed ?? {}) as ErrorBody;
    const code = typeof error.code === 'string' ? ` ${error.code}` : '';
    const message = typeof error.message === 'string' ? error.message : text.slice(0, 200) || res.statusText;
    const field = typeof error.field === 'string' ? ` (field ${error.field})` : '';
    const hint = HINTS[res.status] === undefined ? '' : `; ${HINTS[res.status]}`;
    throw new CliError(EXIT.failure, `emit-api refused ${method} ${path}: ${res.status}${code}: ${message}${field}${hint}`);
  }
  return parsed;
}
