import type { ServerResponse } from 'node:http';
import { SignalError } from '@signal/core';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Error body: `{ message, statusCode, code, field?, data? }` — Stelace's shape plus our stable code. */
export function sendError(res: ServerResponse, error: SignalError): void {
  const body: Record<string, unknown> = { message: error.message, statusCode: error.status, code: error.code };
  if (error.field !== undefined) body.field = error.field;
  if (error.data !== undefined) body.data = error.data;
  const retryAfter = (error.data as { retryAfter?: unknown } | undefined)?.retryAfter;
  if (error.code === 'rate_limited' && typeof retryAfter === 'number') res.setHeader('retry-after', String(retryAfter));
  sendJson(res, error.status, body);
}
