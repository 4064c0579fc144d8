import type { IncomingMessage } from 'node:http';
import { SignalError } from '@signal/core';
import type { z } from 'zod';

/**
 * The request's query string, validated by `schema` (a repeated name counts once, the last);
 * a bad or unknown parameter is `bad_request` naming it, as `<name>: <what is wrong>`.
 */
export function queryParams<S extends z.ZodType>(req: IncomingMessage, schema: S): z.infer<S> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!query.success) {
    const issue = query.error.issues[0]!;
    const field = String(issue.path[0] ?? 'query');
    throw new SignalError('bad_request', `${field}: ${issue.message}`, { field });
  }
  return query.data;
}
